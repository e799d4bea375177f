// Entry point of a parse thread (core/nmap/parse-pool.ts). The thread code is
// TypeScript, and a new thread does not inherit the TypeScript loader of the
// main thread (`npx tsx`, bin/plum.mjs and test runners all register theirs
// for the main thread only). tsx's CommonJS hook is registered here, for this
// thread: it transforms in-thread, where the ESM hook would start one more
// loader thread per parse thread (measured: about 40% more start-up time and
// memory).
import { createRequire } from 'node:module';
import { register } from 'tsx/cjs/api';

register();
createRequire(import.meta.url)('./parse-thread.ts');
