import fs from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../core/nmap/custom-scripts.ts';
import { openStore, type Store } from '../store/index.ts';
import { runPlum } from './helpers/cli.ts';
import { makeTestConfig } from './helpers/db.ts';
import { startPlum, type PlumProcess } from './helpers/plum-process.ts';
import { startTemporalDevServer, type TemporalDevServer } from './helpers/temporal-server.ts';
import { startPerimeter, type Perimeter } from '../demo/perimeter/index.ts';

/*
 * Custom NSE scripts in distributed mode, on a real Temporal server: the job
 * carries the script's hash through the workflow, `plum agent` (no database)
 * fetches the content from `plum serve` with its agent token, checks it and
 * runs it; a replaced script's new hash reaches the next run's agent.
 */

let temporal: TemporalDevServer;
let perimeter: Perimeter;
let drop: () => Promise<void>;
let env: Record<string, string>;
let store: Store;
let serve: PlumProcess;
let worker: PlumProcess;
let agent: PlumProcess;
let home: string;

const lua = (out: string) =>
  `categories = {"safe"}\nportrule = function(host, port) return port.state == "open" end\naction = function(host, port) return "${out}" end\n`;

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
  home = made.config.home;
  env = { PLUM_HOME: home, PLUM_DATABASE_URL: made.config.PLUM_DATABASE_URL!, PLUM_TEMPORAL_ADDRESS: temporal.address, PLUM_LOG_LEVEL: 'warn' };
  store = await openStore(made.config);
  const ssh = perimeter.service('ssh');
  await ok(['target', 'add', ssh.ip]);
  await fs.writeFile(path.join(home, 'site-dist.nse'), lua('dist-marker-v1'));
  await ok(['nse', 'add', path.join(home, 'site-dist.nse')]);
  await ok(['profile', 'add', 'dist', '--ports', String(ssh.port), '--scripts', 'site-dist', '--every', '7d']);
  const agentHome = await fs.mkdtemp(path.join(home, 'agent-'));
  const token = await ok(['agent-token', 'create', '--agent', 'n1']);
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

describe('custom NSE scripts on Temporal', () => {
  async function runDist(): Promise<{ run_id: string; status: string }> {
    const out = JSON.parse(await ok(['run', 'dist', '--temporal', '--format', 'json'])) as { run_id: string; status: string };
    expect(out.status).toBe('succeeded');
    return out;
  }
  /** The custom script's output in the XML the agent uploaded for the run's job. */
  async function outputOf(runId: string): Promise<string | undefined> {
    const [raw] = await store.query<{ xml_gz: Uint8Array }>('select r.xml_gz from raw_results r join jobs j on j.id = r.job_id where j.run_id = $1', [runId]);
    return /<script id="site-dist" output="([^"]*)"/.exec(gunzipSync(Buffer.from(raw!.xml_gz)).toString('utf8'))?.[1];
  }

  it('an agent without a database fetches the script by hash, runs it, and the next run uses a replaced script', async () => {
    const first = await runDist();
    const [job] = await store.query<{ agent: string }>('select agent from jobs where run_id = $1', [first.run_id]);
    expect(job!.agent).toBe('n1');
    expect(await outputOf(first.run_id)).toBe('dist-marker-v1');
    expect(await ok(['search', 'script:site-dist'])).toContain(perimeter.service('ssh').ip);

    await fs.writeFile(path.join(home, 'site-dist.nse'), lua('dist-marker-v2'));
    await ok(['nse', 'add', path.join(home, 'site-dist.nse'), '--replace']);
    const second = await runDist();
    const [run] = await store.query<{ progress: { customScripts: Array<{ sha256: string }> } }>('select progress from runs where id = $1', [second.run_id]);
    expect(run!.progress.customScripts[0]!.sha256).toBe(sha256Hex(lua('dist-marker-v2')));
    expect(await outputOf(second.run_id)).toBe('dist-marker-v2');
    expect(await ok(['search', 'dist-marker-v2', '--token'])).toContain(perimeter.service('ssh').ip);
  }, 240_000);
});
