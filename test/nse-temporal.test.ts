import fs from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../core/nmap/custom-scripts.ts';
import type { Perimeter } from '../demo/perimeter/index.ts';
import type { Store } from '../store/index.ts';
import { startDeployment, type Deployment } from './helpers/distributed.ts';

/*
 * Custom NSE scripts in distributed mode, on a real Temporal server: the job
 * carries the script's hash through the workflow, `plum agent` (no database)
 * fetches the content from `plum serve` with its agent token, checks it and
 * runs it; a replaced script's new hash reaches the next run's agent.
 */

let d: Deployment;
let perimeter: Perimeter;
let store: Store;
let home: string;
const ok = (args: string[]) => d.ok(args);

const lua = (out: string) =>
  `categories = {"safe"}\nportrule = function(host, port) return port.state == "open" end\naction = function(host, port) return "${out}" end\n`;

beforeAll(async () => {
  d = await startDeployment({ agents: ['n1'], timing: {} });
  ({ perimeter, store } = d);
  home = d.env.PLUM_HOME!;
  const ssh = perimeter.service('ssh');
  await ok(['target', 'add', ssh.ip]);
  await fs.writeFile(path.join(home, 'site-dist.nse'), lua('dist-marker-v1'));
  await ok(['nse', 'add', path.join(home, 'site-dist.nse')]);
  await ok(['profile', 'add', 'dist', '--ports', String(ssh.port), '--scripts', 'site-dist', '--every', '7d']);
  d.startAgent('n1');
}, 240_000);

afterAll(async () => {
  await d?.close();
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
