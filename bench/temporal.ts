/*
 * Distributed-mode benchmark on a real Temporal server (temporal server start-dev):
 *   npx tsx bench/temporal.ts [--jobs 24] [--investigations 8]
 *
 * The deployment of test/temporal-live.test.ts: plum serve, plum worker, two
 * plum agents (concurrency 1 each), PostgreSQL, the loopback perimeter; jobs of
 * one address each, no scripts.
 *
 * 1. A profile run of --jobs jobs: wall time, jobs per minute through the two
 *    agents, and per job the orchestration overhead (runNmapJob scheduled ->
 *    ingestJob completed, minus nmap's own time as the agent measured it).
 * 2. While a second such run keeps both agents busy: --investigations
 *    investigations through POST /v1/investigations, one after the other; the
 *    time from the POST to their nmap activity starting on an agent (p50, p95).
 *
 * Prints `uptime` before and after: figures taken on a loaded machine are not comparable.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { runPlum } from '../test/helpers/cli.ts';
import { makeTestConfig } from '../test/helpers/db.ts';
import { startPlum, type PlumProcess } from '../test/helpers/plum-process.ts';
import { startTemporalDevServer } from '../test/helpers/temporal-server.ts';
import { startPerimeter } from '../demo/perimeter/index.ts';

const { values } = parseArgs({ options: { jobs: { type: 'string', default: '24' }, investigations: { type: 'string', default: '8' } } });
const jobs = Number(values.jobs);
const investigations = Number(values.investigations);
if (!Number.isInteger(jobs) || jobs < 2 || jobs > 250) throw new Error('--jobs must be 2-250');

type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];
const ms = (t: HistoryEvent['eventTime']) => Number(t!.seconds) * 1000 + Math.floor((t!.nanos ?? 0) / 1e6);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const fmt = (x: number) => `${Math.round(x)} ms`;
const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim();

console.log(`Plum distributed-mode benchmark (real Temporal dev server)\nbefore: ${uptime()}`);
const server = await startTemporalDevServer({ headless: true });
const perimeter = await startPerimeter();
const made = await makeTestConfig('postgres');
const env = {
  PLUM_HOME: made.config.home, PLUM_DATABASE_URL: made.config.PLUM_DATABASE_URL!, PLUM_TEMPORAL_ADDRESS: server.address,
  PLUM_LOG_LEVEL: 'warn', PLUM_JOB_SIZE: '1',
};
const agentEnv = { ...env, PLUM_DATABASE_URL: '', PLUM_HOME: path.join(made.config.home, 'agent') };
const procs: PlumProcess[] = [];
const connection = await Connection.connect({ address: server.address });
const client = new Client({ connection });
try {
  const ok = async (args: string[]) => {
    const r = await runPlum(args, env);
    if (r.code !== 0) throw new Error(`plum ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const ports = perimeter.services.map((s) => s.port).join(',');
  // --jobs addresses of the perimeter's /24 (6 of them with services), one job each.
  await ok(['target', 'add', `${perimeter.prefix}.1-${jobs}`]);
  await ok(['profile', 'add', 'bench', '--ports', ports, '--every', '7d', '--nmap-args', '-T4']);
  // The background run: the same jobs, each held about 2 s by nmap, so both agents stay busy meanwhile.
  await ok(['profile', 'add', 'background', '--ports', ports, '--every', '7d', '--nmap-args', '--scan-delay 300ms --max-retries 0']);
  const key = await ok(['apikey', 'create', '--role', 'operator']);
  await fs.mkdir(agentEnv.PLUM_HOME, { recursive: true });
  const serve = startPlum('serve', ['serve', '--port', '0'], env);
  procs.push(serve);
  const api = (await serve.waitFor(/API listening on (http:\/\/\S+)/))[1]!;
  procs.push(startPlum('worker', ['worker'], env));
  for (const name of ['b1', 'b2']) {
    const file = path.join(agentEnv.PLUM_HOME, `${name}.token`);
    await fs.writeFile(file, await ok(['agent-token', 'create', '--agent', name]), { mode: 0o600 });
    procs.push(startPlum(name, ['agent', '--server', api, '--token-file', file, '--name', name, '--concurrency', '1'], agentEnv));
  }
  // Warm-up: the worker bundles the workflows, the agents connect.
  await ok(['investigate', perimeter.service('ssh').ip, '--ports', String(perimeter.service('ssh').port), '--temporal']);

  const history = async (workflowId: string) => {
    const out: HistoryEvent[] = [];
    for await (const w of client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) {
      out.push(...((await client.workflow.getHandle(workflowId, w.runId).fetchHistory()).events ?? []));
    }
    return out;
  };

  // 1. Throughput and overhead per job.
  const t0 = Date.now();
  const run = JSON.parse(await ok(['run', 'bench', '--temporal', '--format', 'json'])) as { workflow_id: string; counters: { jobs: number; jobsDone: number } };
  const wall = Date.now() - t0;
  const events = await history(run.workflow_id);
  const scheduled = new Map<string, { type: string; at: number; jobId?: string }>();
  const nmapByJob = new Map<string, { scheduledAt: number; nmapMs: number }>();
  const overhead: number[] = [];
  for (const e of events) {
    const id = String(e.eventId);
    if (e.activityTaskScheduledEventAttributes) {
      const a = e.activityTaskScheduledEventAttributes;
      const input = defaultPayloadConverter.fromPayload(a.input!.payloads![0]!) as { jobId: string };
      scheduled.set(id, { type: a.activityType!.name!, at: ms(e.eventTime), jobId: input.jobId });
    } else if (e.activityTaskCompletedEventAttributes) {
      const s = scheduled.get(String(e.activityTaskCompletedEventAttributes.scheduledEventId));
      if (!s?.jobId) continue;
      if (s.type === 'runNmapJob') {
        const result = defaultPayloadConverter.fromPayload(e.activityTaskCompletedEventAttributes.result!.payloads![0]!) as { durationMs: number };
        nmapByJob.set(s.jobId, { scheduledAt: s.at, nmapMs: result.durationMs });
      } else if (s.type === 'ingestJob') {
        const n = nmapByJob.get(s.jobId);
        if (n) overhead.push(ms(e.eventTime) - n.scheduledAt - n.nmapMs);
      }
    }
  }
  const nmapTimes = [...nmapByJob.values()].map((n) => n.nmapMs);
  console.log(`\n1. profile run, ${run.counters.jobsDone}/${run.counters.jobs} jobs of 1 address, ${perimeter.services.length} ports, 2 agents x 1`);
  console.log(`   wall ${fmt(wall)}; ${(run.counters.jobsDone / (wall / 60_000)).toFixed(1)} jobs/minute`);
  console.log(`   nmap per job: p50 ${fmt(pct(nmapTimes, 50))}, p95 ${fmt(pct(nmapTimes, 95))}`);
  console.log(`   orchestration per job (scheduled -> ingested, minus nmap): p50 ${fmt(pct(overhead, 50))}, p95 ${fmt(pct(overhead, 95))}`);

  // 2. Investigation latency while a background run keeps the agents busy.
  let backgroundDone = false;
  const background = runPlum(['run', 'background', '--temporal', '--format', 'json'], env).finally(() => { backgroundDone = true; });
  await new Promise((r) => setTimeout(r, 3000));
  const ssh = perimeter.service('ssh');
  const latencies: number[] = [];
  let duringBackground = 0;
  for (let i = 0; i < investigations; i++) {
    const posted = Date.now();
    const res = await fetch(`${api}/v1/investigations`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ targets: [ssh.ip], ports: String(ssh.port), scripts: [] }),
    });
    if (res.status !== 202) throw new Error(`POST /v1/investigations: ${res.status} ${await res.text()}`);
    const { id } = await res.json() as { id: string };
    const wf = `investigation:${(await investigationIdOf(made.config.PLUM_DATABASE_URL!, id))}`;
    const handle = client.workflow.getHandle(wf);
    await handle.result();
    const h = (await handle.fetchHistory()).events ?? [];
    const nmapScheduled = h.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runNmapJob');
    const started = h.find((e) => e.activityTaskStartedEventAttributes && String(e.activityTaskStartedEventAttributes.scheduledEventId) === String(nmapScheduled?.eventId));
    if (started) latencies.push(ms(started.eventTime) - posted);
    if (!backgroundDone) duringBackground++;
  }
  const bg = await background;
  console.log(`\n2. ${latencies.length} investigations, ${duringBackground} of them while a ${jobs}-job background run (about 2 s of nmap per job) kept both agents busy${bg.code === 0 ? '' : ` (background failed: ${bg.stderr})`}`);
  console.log(`   POST /v1/investigations -> nmap activity started on an agent: p50 ${fmt(pct(latencies, 50))}, p95 ${fmt(pct(latencies, 95))}`);
} finally {
  await Promise.allSettled(procs.map((p) => p.stop(5000)));
  await connection.close();
  await server.stop();
  await perimeter.close();
  await made.drop();
  console.log(`\nafter: ${uptime()}`);
}

/** The investigation id (inv_…) of a run, from the server database. */
async function investigationIdOf(url: string, runId: string): Promise<string> {
  const { default: postgres } = await import('postgres');
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ workflow_id: string }[]>`select workflow_id from runs where id = ${runId}`;
    return row!.workflow_id.replace(/^investigation:/, '');
  } finally {
    await sql.end({ timeout: 5 });
  }
}
