import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Perimeter } from '../demo/perimeter/index.ts';
import type { Store } from '../store/index.ts';
import { startDeployment, type Deployment } from './helpers/distributed.ts';

/*
 * Trigger profiles in distributed mode, on a real Temporal server: a profile run through Temporal finds the
 * loopback perimeter's HTTP service, the ingest on the worker records the firing, and `plum serve` starts the
 * trigger profile's workflow `trigger:<profile>:<firing>` (the same run logic), which scans that address and
 * port only through an agent. Only the 127.x loopback perimeter is scanned.
 */

let d: Deployment;
let perimeter: Perimeter;
let store: Store;
const ok = (args: string[]) => d.ok(args);

beforeAll(async () => {
  d = await startDeployment({ agents: ['n1'], timing: {} });
  ({ perimeter, store } = d);
  const web = perimeter.service('http');
  await ok(['target', 'add', web.ip]);
  await ok(['profile', 'add', 'webt', '--ports', String(web.port), '--scripts', 'http-title', '--every', '7d']);
  await ok(['profile', 'add', 'follow', '--trigger', `port:${web.port}`, '--scripts', 'http-headers']);
  d.startAgent('n1');
}, 240_000);

afterAll(async () => {
  await d?.close();
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
