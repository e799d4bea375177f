#!/usr/bin/env -S node --max-semi-space-size=64
// --max-semi-space-size=64: a larger young generation. Ingest keeps two batches of parsed hosts alive
// (one in the database, one being parsed), which node's default young generation promotes and then
// collects again: +9–15% on a stable ingest pass (bench/ingest.ts). `env -S` passes the flag (GNU
// coreutils ≥ 8.30, macOS); `node bin/plum.mjs` runs without it.
//
// Entry point of the `plum` command. It runs the bundle in dist/ (scripts/build.mjs, built by
// `npm ci`) when the bundle matches the sources, and otherwise the TypeScript sources through
// tsx's loader, so the command also works right after editing a file, only slower to start.
import { bundleIsFresh } from './bundle.mjs';

const bundle = new URL('../dist/main.js', import.meta.url);
let main;
if (process.env.PLUM_FROM_SOURCE !== '1' && bundleIsFresh(new URL('../', import.meta.url))) {
  ({ main } = await import(bundle.href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../cli/main.ts'));
}
await main(process.argv);
