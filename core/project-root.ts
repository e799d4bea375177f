import path from 'node:path';
import { fileURLToPath } from 'node:url';

/*
 * The project's root directory: where rules/, nse/, docs/, web/static/, store/migrations/ and
 * workflows/ live. Every module that reads a file shipped with Plum finds it from here, never from
 * its own import.meta.url: the same code also runs bundled (dist/, see scripts/build.mjs), where
 * modules from every folder are merged into chunks one level below the root. This module sits one
 * level below the root too (core/), so the same relative URL is right in both layouts.
 */
export const PROJECT_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** A path inside the project, e.g. `projectPath('rules', 'score.yaml')`. */
export function projectPath(...parts: string[]): string {
  return path.join(PROJECT_ROOT, ...parts);
}
