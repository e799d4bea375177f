#!/usr/bin/env -S node --max-semi-space-size=64
// --max-semi-space-size=64: a larger young generation. Ingest keeps two batches of parsed hosts alive
// (one in the database, one being parsed), which node's default young generation promotes and then
// collects again: +9–15% on a stable ingest pass (bench/ingest.ts). `env -S` passes the flag (GNU
// coreutils ≥ 8.30, macOS); `node bin/plum.mjs` runs without it.
// Entry point of the `plum` command. The sources are TypeScript run through tsx's
// loader, so the command works right after `npm install` with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
await main(process.argv);
