import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../store/index.ts';
import { runPlum } from './helpers/cli.ts';
import { makeTestConfig } from './helpers/db.ts';
import { startPlum, type PlumProcess } from './helpers/plum-process.ts';
import { startTemporalDevServer, type TemporalDevServer } from './helpers/temporal-server.ts';
import { startPerimeter, type Perimeter } from '../demo/perimeter/index.ts';

/*
 * Trigger profiles in distributed mode, on a real Temporal server: a profile run through Temporal finds the
 * loopback perimeter's HTTP service, the ingest on the worker records the firing, and `plum serve` starts the
 * trigger profile's workflow `trigger:<profile>:<firing>` (the same run logic), which scans that address and
 * port only through an agent. Only the 127.x loopback perimeter is scanned.
 */

let temporal: TemporalDevServer;
let perimeter: Perimeter;
let drop: () => Promise<void>;
let env: Record<string, string>;
let store: Store;
let serve: PlumProcess;
let worker: PlumProcess;
let agent: PlumProcess;

async function ok(args: string[]): Promise<string> {
  const r = await runPlum(args, env);
  if (r.code !== 0) throw new Error(`plum ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

beforeAll(async () => {
  temporal = await startTemporalDevServer();
  perimeter = await startPerimeter();
  const made = await makeTestConfig('postgres');
  drop = made.drop;
  const home = made.config.home;
  env = { PLUM_HOME: home, PLUM_DATABASE_URL: made.config.PLUM_DATABASE_URL!, PLUM_TEMPORAL_ADDRESS: temporal.address, PLUM_LOG_LEVEL: 'warn' };
  store = await openStore(made.config);
  const web = perimeter.service('http');
  await ok(['target', 'add', web.ip]);
  await ok(['profile', 'add', 'webt', '--ports', String(web.port), '--scripts', 'http-title', '--every', '7d']);
  await ok(['profile', 'add', 'follow', '--trigger', `port:${web.port}`, '--scripts', 'http-headers']);
  const token = (await ok(['agent-token', 'create', '--agent', 'n1'])).trim();
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const agentHome = await fs.mkdtemp(path.join(home, 'agent-'));
  await fs.writeFile(path.join(agentHome, 'n1.token'), token, { mode: 0o600 });
  serve = startPlum('serve', ['serve', '--port', '0'], env);
  const apiUrl = (await serve.waitFor(/API listening on (http:\/\/\S+)/))[1]!;
  worker = startPlum('worker', ['worker'], env);
  agent = startPlum(
    'agent n1',
    ['agent', '--temporal-address', temporal.address, '--server', apiUrl, '--token-file', path.join(agentHome, 'n1.token'), '--name', 'n1'],
    { PLUM_HOME: agentHome, PLUM_DATABASE_URL: '', PLUM_TEMPORAL_ADDRESS: temporal.address, PLUM_LOG_LEVEL: 'warn' },
  );
}, 240_000);

afterAll(async () => {
  await Promise.allSettled([agent?.stop(5000), worker?.stop(5000), serve?.stop(5000)]);
  await store?.close();
  await temporal?.stop();
  await perimeter?.close();
  await drop?.();
});

describe('trigger profiles on Temporal', () => {
  it("a finding of a Temporal run starts the trigger profile's workflow on that address and port", async () => {
    const web = perimeter.service('http');
    const out = JSON.parse(await ok(['run', 'webt', '--temporal', '--format', 'json'])) as { status: string };
    expect(out.status).toBe('succeeded');
    const [firing] = await store.query<{ id: string }>(`select id from trigger_firings`);
    expect(firing).toBeDefined();
    const workflowId = `trigger:follow:${firing!.id}`;
    // serve's dispatcher wakes on the worker's commit; the run is the workflow's.
    let run: { id: string; status: string; kind: string; progress: { origin?: { ip: string; port: number } } } | undefined;
    for (let i = 0; i < 300 && !(run && ['succeeded', 'partial', 'failed'].includes(run.status)); i++) {
      [run] = await store.query(`select id, status, kind, progress from runs where workflow_id = $1`, [workflowId]);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(run).toMatchObject({ kind: 'trigger', status: 'succeeded', progress: { origin: { ip: web.ip, port: web.port } } });
    const jobs = await store.query<{ targets: string[]; tcp_ports: string; scripts: string[]; agent: string }>(
      `select targets, tcp_ports, scripts, agent from jobs where run_id = $1`,
      [run!.id],
    );
    expect(jobs).toEqual([{ targets: [web.ip], tcp_ports: String(web.port), scripts: ['http-headers'], agent: 'n1' }]);
    const shown = JSON.parse(await ok(['runs', run!.id, '--format', 'json'])) as { run: { origin: { query: string; ip: string } } };
    expect(shown.run.origin).toMatchObject({ query: `port:${web.port}`, ip: web.ip });
  }, 240_000);
});
