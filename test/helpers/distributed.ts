import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startPerimeter, type Perimeter } from '../../demo/perimeter/index.ts';
import { openStore, type Store } from '../../store/index.ts';
import { runPlum, type CliResult } from './cli.ts';
import { makeTestConfig } from './db.ts';
import { startPlum, type PlumProcess } from './plum-process.ts';
import { startTemporalDevServer, type TemporalDevServer } from './temporal-server.ts';

/*
 * A whole distributed deployment on loopback for integration tests: a real
 * Temporal dev server (headless), a PostgreSQL database, `plum serve`,
 * `plum worker`, agent tokens in a directory of their own, and the loopback
 * test perimeter. Agents are started by the test (which queue, which window).
 * Short timings come from the config schema, as in test/temporal-live.test.ts.
 */

export const FAST_TIMING = {
  PLUM_JOB_SIZE: '2',
  PLUM_TEMPORAL_HEARTBEAT_TIMEOUT: '4s',
  PLUM_TEMPORAL_RETRY_INTERVAL: '1s',
  PLUM_TEMPORAL_JOBS_PER_EXECUTION: '2',
};

export interface Deployment {
  temporal: TemporalDevServer;
  perimeter: Perimeter;
  store: Store;
  /** Environment of the server side (serve, worker, client commands). */
  env: Record<string, string>;
  /** Environment of agents: no database, their own home. */
  agentEnv: Record<string, string>;
  apiUrl: string;
  apiKey: string;
  tokenDir: string;
  client: Client;
  serve: PlumProcess;
  worker: PlumProcess;
  tokenFile(agent: string): string;
  token(agent: string): Promise<string>;
  plum(args: string[], extra?: Record<string, string>): Promise<CliResult>;
  ok(args: string[], extra?: Record<string, string>): Promise<string>;
  /** `plum agent` with the named agent's token; stopped by close(). */
  startAgent(name: string, opts?: { args?: string[]; env?: Record<string, string> }): PlumProcess;
  close(): Promise<void>;
}

export async function startDeployment(opts: { agents: string[]; timing?: Record<string, string> }): Promise<Deployment> {
  const timing = opts.timing ?? FAST_TIMING;
  const temporal = await startTemporalDevServer({ headless: true });
  const perimeter = await startPerimeter();
  const made = await makeTestConfig('postgres');
  const env: Record<string, string> = {
    PLUM_HOME: made.config.home,
    PLUM_DATABASE_URL: made.config.PLUM_DATABASE_URL!,
    PLUM_TEMPORAL_ADDRESS: temporal.address,
    PLUM_LOG_LEVEL: 'warn',
    ...timing,
  };
  const tokenDir = await fs.mkdtemp(path.join(made.config.home, 'agents-'));
  const agentEnv: Record<string, string> = {
    PLUM_HOME: tokenDir,
    PLUM_DATABASE_URL: '',
    PLUM_TEMPORAL_ADDRESS: temporal.address,
    PLUM_LOG_LEVEL: 'warn',
    ...timing,
  };
  const store = await openStore(made.config);
  const plum = (args: string[], extra: Record<string, string> = {}) => runPlum(args, { ...env, ...extra });
  const ok = async (args: string[], extra: Record<string, string> = {}) => {
    const r = await plum(args, extra);
    if (r.code !== 0) throw new Error(`plum ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  const tokenFile = (name: string) => path.join(tokenDir, `${name}.token`);
  for (const name of opts.agents) {
    await fs.writeFile(tokenFile(name), await ok(['agent-token', 'create', '--agent', name]), { mode: 0o600 });
  }
  const apiKey = (await ok(['apikey', 'create', '--role', 'operator', '--name', 'deployment-test'])).trim();
  const serve = startPlum('serve', ['serve', '--port', '0'], env);
  const apiUrl = (await serve.waitFor(/API listening on (http:\/\/\S+)/))[1]!;
  const worker = startPlum('worker', ['worker'], env);
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection });
  const agents: PlumProcess[] = [];
  return {
    temporal,
    perimeter,
    store,
    env,
    agentEnv,
    apiUrl,
    apiKey,
    tokenDir,
    client,
    serve,
    worker,
    tokenFile,
    plum,
    ok,
    token: async (name) => (await fs.readFile(tokenFile(name), 'utf8')).trim(),
    startAgent(name, o = {}) {
      const a = startPlum(
        `agent ${name}`,
        ['agent', '--server', apiUrl, '--token-file', tokenFile(name), '--name', name, '--concurrency', '1', ...(o.args ?? [])],
        { ...agentEnv, ...o.env },
      );
      agents.push(a);
      return a;
    },
    async close() {
      await Promise.allSettled(agents.map((a) => a.stop(5000)));
      await Promise.allSettled([worker.stop(5000), serve.stop(5000)]);
      await connection.close();
      await store.close();
      await temporal.stop();
      await perimeter.close();
      await made.drop();
    },
  };
}

/** nmap processes a `plum` process runs right now (its children). */
export function nmapChildren(p: PlumProcess): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(p.pid), 'nmap'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

export async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
