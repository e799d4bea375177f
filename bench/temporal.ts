/*
 * Distributed-mode benchmark on a real Temporal server (temporal server start-dev):
 *   npx tsx bench/temporal.ts [--jobs 24] [--investigations 8]
 *   npx tsx bench/temporal.ts --realistic [--jobs 4] [--job-size 64] [--runs 3]
 *
 * The deployment of test/temporal-live.test.ts: plum serve, plum worker, two
 * plum agents (concurrency 1 each), PostgreSQL, the loopback perimeter.
 *
 * Default mode, jobs of one address each, no scripts:
 * 1. A profile run of --jobs jobs: wall time, jobs per minute through the two
 *    agents, and per job the orchestration overhead (runNmapJob scheduled ->
 *    ingestJob completed, minus nmap's own time as the agent measured it).
 * 2. While a second such run keeps both agents busy: --investigations
 *    investigations through POST /v1/investigations, one after the other; the
 *    time from the POST to their nmap activity starting on an agent (p50, p95).
 *
 * --realistic: jobs of --job-size loopback addresses (32-256) with service
 * detection (-sV) on the perimeter's services, so nmap runs seconds per job.
 * --jobs loopback perimeters are started, one /24 each; each job covers
 * --job-size addresses of one of them (its 6 services among them). The
 * profile runs --runs times; per job: nmap's own elapsed time (the XML's
 * runstats, <finished elapsed=…>) against the job's wall time from its
 * dispatch to an agent (runNmapJob started) to ingested (ingestJob
 * completed); the overhead (wall − nmap) as a share of nmap's time, median
 * and p95 over every job of every run, and jobs per minute through the two
 * agents per run. The goal: overhead under 5% of nmap's own time.
 *
 * Prints `uptime` before and after: figures taken on a loaded machine are not comparable.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { runPlum } from '../test/helpers/cli.ts';
import { makeTestConfig } from '../test/helpers/db.ts';
import { startPlum, type PlumProcess } from '../test/helpers/plum-process.ts';
import { startTemporalDevServer } from '../test/helpers/temporal-server.ts';
import { startPerimeter } from '../demo/perimeter/index.ts';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string' },
    investigations: { type: 'string', default: '8' },
    realistic: { type: 'boolean', default: false },
    'job-size': { type: 'string', default: '64' },
    runs: { type: 'string', default: '3' },
  },
});
const realistic = values.realistic;
const jobs = Number(values.jobs ?? (realistic ? '4' : '24'));
const investigations = Number(values.investigations);
const jobSize = Number(values['job-size']);
const runs = Number(values.runs);
if (!Number.isInteger(jobs) || jobs < (realistic ? 1 : 2) || jobs > (realistic ? 32 : 250))
  throw new Error(realistic ? '--jobs must be 1-32 with --realistic' : '--jobs must be 2-250');
if (realistic && (!Number.isInteger(jobSize) || jobSize < 32 || jobSize > 256)) throw new Error('--job-size must be 32-256');
if (realistic && (!Number.isInteger(runs) || runs < 1 || runs > 20)) throw new Error('--runs must be 1-20');

type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];
const ms = (t: HistoryEvent['eventTime']) => Number(t!.seconds) * 1000 + Math.floor((t!.nanos ?? 0) / 1e6);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const fmt = (x: number) => `${Math.round(x)} ms`;
const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim();

console.log(
  `Plum distributed-mode benchmark (real Temporal dev server)${realistic ? `, realistic jobs: ${jobs} x ${jobSize} addresses, -sV, ${runs} runs` : ''}\nbefore: ${uptime()}`,
);
const server = await startTemporalDevServer({ headless: true });
const perimeter = await startPerimeter();
// --realistic: one more perimeter (its own /24 and 6 services) per further job.
const extraPerimeters = realistic ? await Promise.all(Array.from({ length: jobs - 1 }, () => startPerimeter())) : [];
const made = await makeTestConfig('postgres');
const env = {
  PLUM_HOME: made.config.home,
  PLUM_DATABASE_URL: made.config.PLUM_DATABASE_URL!,
  PLUM_TEMPORAL_ADDRESS: server.address,
  PLUM_LOG_LEVEL: 'warn',
  PLUM_JOB_SIZE: realistic ? String(jobSize) : '1',
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
  if (realistic) {
    for (const p of [perimeter, ...extraPerimeters]) await ok(['target', 'add', `${p.prefix}.1-${jobSize}`, '--label', 'realistic']);
    await ok(['profile', 'add', 'realistic', '--ports', ports, '--targets', 'label:realistic', '--every', '7d', '--nmap-args', '-sV']);
  } else {
    // --jobs addresses of the perimeter's /24 (6 of them with services), one job each.
    await ok(['target', 'add', `${perimeter.prefix}.1-${jobs}`]);
  }
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

  if (realistic) {
    await realisticRuns(ok, history, made.config.PLUM_DATABASE_URL!);
  } else {
    await latencyRuns(ok, history, api, key);
  }
} finally {
  await Promise.allSettled(procs.map((p) => p.stop(5000)));
  await connection.close();
  await server.stop();
  await Promise.allSettled([perimeter, ...extraPerimeters].map((p) => p.close()));
  await made.drop();
  console.log(`\nafter: ${uptime()}`);
}

type Ok = (args: string[]) => Promise<string>;
type HistoryOf = (workflowId: string) => Promise<HistoryEvent[]>;

/** nmap's own elapsed time (ms) per job of a run, from the runstats of the XML the agents uploaded. */
async function nmapElapsedByJob(url: string, runId: string): Promise<Map<string, number>> {
  const { default: postgres } = await import('postgres');
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ job_id: string; xml_gz: Buffer }[]>`select job_id, xml_gz from raw_results where run_id = ${runId}`;
    const out = new Map<string, number>();
    for (const r of rows) {
      const elapsed = /<finished [^>]*elapsed="([\d.]+)"/.exec(gunzipSync(r.xml_gz).toString('utf8'))?.[1];
      if (elapsed) out.set(r.job_id, Number(elapsed) * 1000);
    }
    return out;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Per job of a run: queued (scheduled -> started on an agent) and dispatched -> ingested (started -> ingestJob completed), from the history. */
function jobTimes(events: HistoryEvent[]): Map<string, { queuedMs: number; wallMs: number }> {
  const scheduled = new Map<string, { type: string; at: number; jobId?: string }>();
  const started = new Map<string, number>();
  const out = new Map<string, { queuedMs: number; wallMs: number }>();
  for (const e of events) {
    if (e.activityTaskScheduledEventAttributes) {
      const a = e.activityTaskScheduledEventAttributes;
      const input = defaultPayloadConverter.fromPayload(a.input!.payloads![0]!) as { jobId?: string };
      scheduled.set(String(e.eventId), { type: a.activityType!.name!, at: ms(e.eventTime), jobId: input?.jobId });
    } else if (e.activityTaskStartedEventAttributes) {
      const s = scheduled.get(String(e.activityTaskStartedEventAttributes.scheduledEventId));
      if (s?.type === 'runNmapJob' && s.jobId) {
        started.set(s.jobId, ms(e.eventTime));
        out.set(s.jobId, { queuedMs: ms(e.eventTime) - s.at, wallMs: Number.NaN });
      }
    } else if (e.activityTaskCompletedEventAttributes) {
      const s = scheduled.get(String(e.activityTaskCompletedEventAttributes.scheduledEventId));
      const at = s?.jobId ? started.get(s.jobId) : undefined;
      if (s?.type === 'ingestJob' && at !== undefined) out.get(s.jobId!)!.wallMs = ms(e.eventTime) - at;
    }
  }
  return out;
}

async function realisticRuns(ok: Ok, history: HistoryOf, url: string): Promise<void> {
  const overheadPct: number[] = [];
  const overheadMs: number[] = [];
  const nmapMs: number[] = [];
  const queuedMs: number[] = [];
  const perMinute: number[] = [];
  for (let r = 1; r <= runs; r++) {
    const t0 = Date.now();
    const run = JSON.parse(await ok(['run', 'realistic', '--temporal', '--format', 'json'])) as {
      run_id: string;
      workflow_id: string;
      counters: { jobsDone: number; jobsFailed: number };
    };
    const wall = Date.now() - t0;
    const times = jobTimes(await history(run.workflow_id));
    const nmap = await nmapElapsedByJob(url, run.run_id);
    for (const [jobId, t] of times) {
      const n = nmap.get(jobId);
      if (n === undefined || Number.isNaN(t.wallMs)) continue;
      nmapMs.push(n);
      queuedMs.push(t.queuedMs);
      overheadMs.push(t.wallMs - n);
      overheadPct.push(((t.wallMs - n) / n) * 100);
    }
    perMinute.push(run.counters.jobsDone / (wall / 60_000));
    console.log(`   run ${r}: ${run.counters.jobsDone} jobs (${run.counters.jobsFailed} failed) in ${fmt(wall)}: ${perMinute.at(-1)!.toFixed(1)} jobs/minute`);
  }
  const pctFmt = (x: number) => `${x.toFixed(1)}%`;
  console.log(`\nrealistic: ${overheadPct.length} jobs of ${jobSize} loopback addresses (-sV on 6 services each), ${runs} runs, 2 agents x 1`);
  console.log(`   nmap's own time per job (runstats): p50 ${fmt(pct(nmapMs, 50))}, p95 ${fmt(pct(nmapMs, 95))}`);
  console.log(`   dispatched -> ingested, minus nmap: p50 ${fmt(pct(overheadMs, 50))}, p95 ${fmt(pct(overheadMs, 95))}`);
  console.log(`   overhead as a share of nmap's time: median ${pctFmt(pct(overheadPct, 50))}, p95 ${pctFmt(pct(overheadPct, 95))} (goal: under 5%)`);
  console.log(`   waiting for a free agent (scheduled -> started): p50 ${fmt(pct(queuedMs, 50))}, p95 ${fmt(pct(queuedMs, 95))}`);
  console.log(`   throughput: ${perMinute.map((x) => x.toFixed(1)).join(', ')} jobs/minute per run (median ${pct(perMinute, 50).toFixed(1)})`);
}

async function latencyRuns(ok: Ok, history: HistoryOf, api: string, key: string): Promise<void> {
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
  const background = runPlum(['run', 'background', '--temporal', '--format', 'json'], env).finally(() => {
    backgroundDone = true;
  });
  await new Promise((r) => setTimeout(r, 3000));
  const ssh = perimeter.service('ssh');
  const latencies: number[] = [];
  let duringBackground = 0;
  for (let i = 0; i < investigations; i++) {
    const posted = Date.now();
    const res = await fetch(`${api}/v1/investigations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ targets: [ssh.ip], ports: String(ssh.port), scripts: [] }),
    });
    if (res.status !== 202) throw new Error(`POST /v1/investigations: ${res.status} ${await res.text()}`);
    const { id } = (await res.json()) as { id: string };
    const wf = `investigation:${await investigationIdOf(made.config.PLUM_DATABASE_URL!, id)}`;
    const handle = client.workflow.getHandle(wf);
    await handle.result();
    const h = (await handle.fetchHistory()).events ?? [];
    const nmapScheduled = h.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runNmapJob');
    const started = h.find(
      (e) => e.activityTaskStartedEventAttributes && String(e.activityTaskStartedEventAttributes.scheduledEventId) === String(nmapScheduled?.eventId),
    );
    if (started) latencies.push(ms(started.eventTime) - posted);
    if (!backgroundDone) duringBackground++;
  }
  const bg = await background;
  console.log(
    `\n2. ${latencies.length} investigations, ${duringBackground} of them while a ${jobs}-job background run (about 2 s of nmap per job) kept both agents busy${bg.code === 0 ? '' : ` (background failed: ${bg.stderr})`}`,
  );
  console.log(`   POST /v1/investigations -> nmap activity started on an agent: p50 ${fmt(pct(latencies, 50))}, p95 ${fmt(pct(latencies, 95))}`);
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
