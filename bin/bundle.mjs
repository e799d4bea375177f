// Whether dist/ (scripts/build.mjs) was built from the sources as they are now: every source file
// it was built from has the size and modification time it had then. Any edit, checkout or pull
// changes them, and `plum` then runs from the sources until the next `npm run build`.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** @param {URL} rootUrl the project's root */
export function bundleIsFresh(rootUrl) {
  const root = fileURLToPath(rootUrl);
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(path.join(root, 'dist', 'manifest.json'), 'utf8'));
  } catch {
    return false;
  }
  const inputs = Object.entries(manifest?.inputs ?? {});
  if (inputs.length === 0) return false;
  for (const [file, [size, mtime]] of inputs) {
    const s = statSync(path.join(root, file), { throwIfNoEntry: false });
    if (!s || s.size !== size || Math.round(s.mtimeMs) !== mtime) return false;
  }
  return true;
}
