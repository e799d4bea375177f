import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import { openStore, type Store } from '../store/index.ts';
import { runPlum, type CliResult } from './helpers/cli.ts';
import { makeTestConfig } from './helpers/db.ts';
import { startPlum, type PlumProcess } from './helpers/plum-process.ts';
import { freePort, startTemporalDevServer, type TemporalDevServer } from './helpers/temporal-server.ts';
import { startPerimeter, type Perimeter } from './perimeter/index.ts';

/*
 * Distributed mode against a real Temporal server (`temporal server
 * start-dev`): `plum serve` (API and the agents' upload route), `plum worker`
 * (workflows, plan and ingest), two `plum agent`s (nmap, results uploaded by
 * claim check with their agent tokens, no database credentials), a PostgreSQL
 * server database and the loopback test perimeter. Short timings come from the
 * config schema: jobs of 2 addresses, a 4 s heartbeat timeout, 1 s between
 * retries, continue-as-new after 2 jobs.
 */

const TIMING = {
  PLUM_JOB_SIZE: '2', PLUM_TEMPORAL_HEARTBEAT_TIMEOUT: '4s', PLUM_TEMPORAL_RETRY_INTERVAL: '1s', PLUM_TEMPORAL_JOBS_PER_EXECUTION: '2',
};

let temporal: TemporalDevServer;
let perimeter: Perimeter;
let drop: () => Promise<void>;
let env: Record<string, string>;
let agentEnv: Record<string, string>;
let store: Store;
let serve: PlumProcess;
let worker: PlumProcess;
const agents = new Map<string, PlumProcess>();
let apiUrl: string;
let apiKey: string;
let tokenDir: string;
let connection: Connection;
let client: Client;
let ports: string;

async function plum(args: string[], extra: Record<string, string> = {}): Promise<CliResult> {
  return runPlum(args, { ...env, ...extra });
}

async function ok(args: string[], extra: Record<string, string> = {}): Promise<string> {
  const r = await plum(args, extra);
  if (r.code !== 0) throw new Error(`plum ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

function startAgent(name: string): PlumProcess {
  const a = startPlum(`agent ${name}`, [
    'agent', '--temporal-address', temporal.address, '--server', apiUrl, '--token-file', path.join(tokenDir, `${name}.token`),
    '--name', name, '--concurrency', '1',
  ], agentEnv);
  agents.set(name, a);
  return a;
}

function startWorker(): PlumProcess {
  return startPlum('worker', ['worker'], env);
}

async function api(method: string, url: string, body?: unknown): Promise<{ status: number; json: any; text: string }> {
  const res = await fetch(`${apiUrl}${url}`, {
    method, headers: { authorization: `Bearer ${apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

/** nmap processes an agent runs right now (its children). */
function nmapChildren(agent: PlumProcess): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(agent.pid), 'nmap'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The agent whose nmap is running a job now. */
async function agentMidJob(): Promise<{ name: string; agent: PlumProcess; nmap: number[] }> {
  return until('an agent running nmap', () => {
    for (const [name, agent] of agents) {
      const nmap = nmapChildren(agent);
      if (nmap.length) return { name, agent, nmap };
    }
    return undefined;
  }, 60_000, 100);
}

interface RunDoc {
  run_id: string; workflow_id: string; status: string; counters: Record<string, number>;
  findings: { ip: string; port: number; protocol: string; event: string | null; service: string | null; tags: string[]; score: number }[];
}

/** What a run stored: its current observations and its events, without ids and times. */
async function runFacts(s: Store, runId: string) {
  const obs = await s.query<{ ip: string; port: number; hsh256: string; tags: string[]; score: number }>(
    `select host(ip) as ip, port, hsh256, tags, score from port_observations join observation_sightings using (id)
      where last_run_id = $1 and current order by ip, port`, [runId]);
  const events = await s.query<{ type: string; ip: string; port: number; hsh256: string }>(
    'select type, host(ip) as ip, port, hsh256 from observation_events where run_id = $1 order by ip, port, type', [runId]);
  const [run] = await s.query<{ status: string; counters: Record<string, number> }>('select status, counters from runs where id = $1', [runId]);
  return { obs, events, run };
}

beforeAll(async () => {
  temporal = await startTemporalDevServer({ headless: true });
  perimeter = await startPerimeter();
  const made = await makeTestConfig('postgres');
  drop = made.drop;
  env = {
    PLUM_HOME: made.config.home, PLUM_DATABASE_URL: made.config.PLUM_DATABASE_URL!, PLUM_TEMPORAL_ADDRESS: temporal.address,
    PLUM_LOG_LEVEL: 'warn', ...TIMING,
  };
  tokenDir = await fs.mkdtemp(path.join(made.config.home, 'agents-'));
  // Agents get no database: their own empty home, results go to the API.
  agentEnv = { PLUM_HOME: tokenDir, PLUM_DATABASE_URL: '', PLUM_TEMPORAL_ADDRESS: temporal.address, PLUM_LOG_LEVEL: 'warn', ...TIMING };
  store = await openStore(made.config);

  ports = perimeter.services.map((s) => s.port).join(',');
  await ok(['target', 'add', `${perimeter.prefix}.1-6`, '--label', 'perim']);
  await ok(['target', 'add', `${perimeter.prefix}.200`, '--label', 'slow']);
  await ok(['profile', 'add', 'lo', '--ports', ports, '--scripts', 'plum-banner', '--targets', 'label:perim', '--every', '7d',
    '--nmap-args', '--script-args plum-banner.timeout=2']);
  // About 10 s of nmap on one address: a job that is really in flight when a test interferes.
  await ok(['profile', 'add', 'slow', '--ports', '1-20', '--targets', 'label:slow', '--every', '7d', '--nmap-args', '--scan-delay 500ms --max-retries 0']);
  for (const name of ['a1', 'a2']) {
    const token = await ok(['agent-token', 'create', '--agent', name]);
    await fs.writeFile(path.join(tokenDir, `${name}.token`), token, { mode: 0o600 });
  }
  apiKey = (await ok(['apikey', 'create', '--role', 'operator', '--name', 'live-test'])).trim();

  serve = startPlum('serve', ['serve', '--port', '0'], env);
  apiUrl = (await serve.waitFor(/API listening on (http:\/\/\S+)/))[1]!;
  worker = startWorker();
  startAgent('a1');
  startAgent('a2');
  connection = await Connection.connect({ address: temporal.address });
  client = new Client({ connection });
}, 240_000);

afterAll(async () => {
  await Promise.allSettled([...agents.values()].map((a) => a.stop(5000)));
  await Promise.allSettled([worker?.stop(5000), serve?.stop(5000)]);
  await connection?.close();
  await store?.close();
  await temporal?.stop();
  await perimeter?.close();
  await drop?.();
});

describe('plum run --temporal on a real Temporal server', () => {
  it('runs a profile through the worker and two agents, with the same results, events and counters as the embedded runner', async () => {
    // The embedded runner, same targets, profile and job size, in its own PGlite home.
    const embeddedHome = await fs.mkdtemp(path.join(tokenDir, 'embedded-'));
    const embeddedEnv = { PLUM_HOME: embeddedHome, PLUM_DATABASE_URL: '', PLUM_TEMPORAL_ADDRESS: '', PLUM_LOG_LEVEL: 'warn', PLUM_JOB_SIZE: '2' };
    for (const args of [
      ['target', 'add', `${perimeter.prefix}.1-6`, '--label', 'perim'],
      ['profile', 'add', 'lo', '--ports', ports, '--scripts', 'plum-banner', '--targets', 'label:perim', '--every', '7d', '--nmap-args', '--script-args plum-banner.timeout=2'],
    ]) expect((await runPlum(args, embeddedEnv)).code).toBe(0);
    const embedded = await runPlum(['run', 'lo', '--format', 'json'], embeddedEnv);
    expect(embedded.code, embedded.stderr).toBe(0);
    const e = JSON.parse(embedded.stdout) as RunDoc;

    const live = await plum(['run', 'lo', '--temporal', '--format', 'json']);
    expect(live.code, live.stderr).toBe(0);
    const t = JSON.parse(live.stdout) as RunDoc;

    expect(t.status).toBe('succeeded');
    expect(t.workflow_id).toMatch(/^profile:lo:/);
    expect(t.counters).toMatchObject({ jobs: 3, jobsDone: 3, jobsFailed: 0, ports: perimeter.services.length, appeared: perimeter.services.length });
    expect(t.counters).toEqual(e.counters);
    const key = (f: RunDoc['findings'][number]) => `${f.ip} ${f.port}/${f.protocol} ${f.event} ${f.service} ${f.tags.join(',')} ${f.score}`;
    expect(t.findings.map(key).sort()).toEqual(e.findings.map(key).sort());

    // The stored facts: same fingerprints, tags, scores and events; the run record carries the same counters.
    const embeddedStore = await openStore(loadConfig({ PLUM_HOME: embeddedHome }));
    try {
      const ef = await runFacts(embeddedStore, e.run_id);
      const tf = await runFacts(store, t.run_id);
      expect(tf.obs).toEqual(ef.obs);
      expect(tf.events).toEqual(ef.events);
      expect(tf.obs).toHaveLength(perimeter.services.length);
      expect(tf.run).toEqual({ status: 'succeeded', counters: ef.run!.counters });
    } finally {
      await embeddedStore.close();
    }

    // Jobs ran on the agents (the upload route records who delivered), each ingested once.
    const jobs = await store.query<{ status: string; agent: string; ingested_at: Date | null }>('select status, agent, ingested_at from jobs where run_id = $1', [t.run_id]);
    expect(jobs).toHaveLength(3);
    expect(jobs.every((j) => j.status === 'succeeded' && j.ingested_at)).toBe(true);
    expect(new Set(jobs.map((j) => j.agent))).toEqual(new Set(['a1', 'a2']));

    // Temporal: 3 jobs over a threshold of 2 = one continue-as-new, then completion; search attributes set.
    const executions = [];
    for await (const w of client.workflow.list({ query: `WorkflowId = "${t.workflow_id}"` })) executions.push(w);
    expect(executions.map((w) => w.status.name).sort()).toEqual(['COMPLETED', 'CONTINUED_AS_NEW']);
    const described = await client.workflow.getHandle(t.workflow_id).describe();
    expect(described.searchAttributes).toMatchObject({ PlumRunKind: ['profile'], PlumProfile: ['lo'], PlumJobCount: [3], PlumAddressCount: [6] });
    expect(await described.memo).toMatchObject({ runId: t.run_id, jobs: 3 });

    // The workers logged no errors (a missing sink, a failed task).
    expect(worker.output()).not.toMatch(/"level":50|\[ERROR\]/);
  }, 240_000);
});
