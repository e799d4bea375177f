#!/usr/bin/env node
// Bundles the `plum` command into dist/ (run by `npm ci` / `npm install` through the `prepare`
// script, and by `npm run build`). bin/plum.mjs runs the bundle while it matches the sources and
// falls back to compiling the TypeScript sources on the fly (tsx) otherwise, so a stale or missing
// bundle is never wrong, only slower to start: tsx compiles and resolves each of the few hundred
// modules through a loader thread on every start, the bundle is plain JavaScript in a few files.
//
// Layout: every output file sits directly in dist/ (one level below the root, like core/), so
// core/project-root.ts finds the project's files the same way in both layouts. Commands stay
// lazily loaded: `import()` of a command module becomes a chunk of its own. Packages stay
// external (node_modules), and so does workflows/ (Temporal bundles it itself).
//
// With --agent, it builds the single-file agent instead (scripts/build-agent.mjs): dist-agent/plum-agent.mjs.
//
//   node scripts/build.mjs [--outdir DIR]
//   node scripts/build.mjs --agent [--outdir DIR] [--agent-targets x86_64-unknown-linux-gnu,aarch64-unknown-linux-gnu]
import { build } from 'esbuild';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('../', import.meta.url));
const { values } = parseArgs({
  options: { outdir: { type: 'string' }, agent: { type: 'boolean', default: false }, 'agent-targets': { type: 'string' } },
});
if (values.agent) {
  const { buildAgent } = await import('./build-agent.mjs');
  await buildAgent({ root, outdir: path.resolve(values.outdir ?? path.join(root, 'dist-agent')), targets: values['agent-targets']?.split(',') });
  process.exit(0);
}
values.outdir ??= path.join(root, 'dist');
const outdir = path.resolve(values.outdir);
// Built beside the target and renamed into place: a `plum` starting meanwhile sees the old bundle or
// the new one, never half of one.
const staging = `${outdir}.build-${process.pid}`;

try {
  await rm(staging, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { main: 'cli/main.ts' },
    outdir: staging,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    entryNames: '[name]',
    chunkNames: 'chunk-[hash]',
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
    tsconfig: path.join(root, 'tsconfig.json'),
  });
  // What the bundle was built from, for bin/plum.mjs's freshness check: size and modification time
  // of every source file (packages excluded: package-lock.json stands for them).
  const inputs = {};
  const files = [...Object.keys(result.metafile.inputs).filter((f) => !f.includes('node_modules/')), 'package.json', 'package-lock.json'];
  for (const file of files) {
    const s = await stat(path.join(root, file)).catch(() => undefined);
    if (s) inputs[file] = [s.size, Math.round(s.mtimeMs)];
  }
  await writeFile(path.join(staging, 'manifest.json'), `${JSON.stringify({ node: process.version, inputs })}\n`);
  await mkdir(path.dirname(outdir), { recursive: true });
  const old = `${outdir}.old-${process.pid}`;
  await rename(outdir, old).catch(() => {});
  await rename(staging, outdir);
  await rm(old, { recursive: true, force: true });
  const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8'));
  process.stderr.write(`plum ${pkg.version}: bundled ${Object.keys(inputs).length} source files into ${path.relative(root, outdir) || outdir}/\n`);
} catch (e) {
  await rm(staging, { recursive: true, force: true });
  process.stderr.write(`plum build: ${e instanceof Error ? e.message : String(e)}\n`);
  process.stderr.write('plum still runs from the TypeScript sources (slower to start); fix the error above and run `npm run build`\n');
  process.exit(1);
}
