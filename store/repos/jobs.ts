import { PlumError } from '../../core/errors.ts';
import type { StoreSession } from '../index.ts';

/**
 * Jobs as agents see them: claimed by exactly one agent when it starts, so a
 * result can only come from the agent that ran the job.
 */
export interface ClaimedJob {
  id: string;
  runId: string;
  agent: string;
  targets: string[];
}

/**
 * Claims a job for an agent (idempotent for the same agent). Refused when
 * another live agent or runner holds it (403), or the job was cancelled (409).
 */
export async function claimJob(store: StoreSession, jobId: string, agentName: string, attempt = 1): Promise<ClaimedJob> {
  const [row] = await store.query<{ id: string; run_id: string; agent: string; targets: string[] }>(
    `update jobs set agent = $2, status = case when status = 'queued' then 'running' else status end,
       started_at = coalesce(started_at, now()), attempts = greatest(attempts, $3)
     where id = $1 and status <> 'cancelled' and (agent is null or agent = $2
       -- Temporal starts a later attempt only once the earlier one failed or missed its heartbeat timeout, and
       -- may start it on another agent: a later attempt's claim supersedes the earlier one. Never an ingested job.
       or (ingested_at is null and attempts > 0 and $3 > attempts)
       -- A job whose agent stopped heartbeating can be taken over, never an ingested one.
       or (ingested_at is null and exists (select 1 from agents a where a.name = jobs.agent and a.last_heartbeat_at < now() - interval '5 minutes')))
     returning id, run_id, agent, targets`,
    [jobId, agentName, attempt],
  );
  if (row) return { id: row.id, runId: row.run_id, agent: row.agent, targets: row.targets };
  const [job] = await store.query<{ agent: string | null; status: string }>('select agent, status from jobs where id = $1', [jobId]);
  if (!job) throw new PlumError('not_found', `no job ${jobId}`, { hint: 'claim only jobs the server handed out' });
  if (job.status === 'cancelled') throw new PlumError('conflict', `job ${jobId} was cancelled`, { hint: 'drop the job' });
  throw new PlumError('forbidden', `job ${jobId} is assigned to another agent`, { hint: 'each job runs on the agent that claimed it first' });
}

/** The workflow id of a job's run (null for a run without one); undefined when there is no such job. */
export async function jobWorkflowId(store: StoreSession, jobId: string): Promise<{ workflowId: string | null } | undefined> {
  const [row] = await store.query<{ workflow_id: string | null }>('select r.workflow_id from jobs j join runs r on r.id = j.run_id where j.id = $1', [jobId]);
  return row ? { workflowId: row.workflow_id } : undefined;
}

/** The addresses each name of a job's run was checked at when the run was planned (core/scope.ts pinning). */
export async function pinnedAddresses(store: StoreSession, runId: string): Promise<Record<string, string[]>> {
  const [row] = await store.query<{ pinned: Record<string, string[]> | null }>(`select progress->'pinned' as pinned from runs where id = $1`, [runId]);
  return row?.pinned ?? {};
}

/** A job as a run plans it: what nmap is asked to scan. */
export interface PlannedJobRow {
  id: string;
  index: number;
  targets: string[];
  address_count: number;
  tcp_ports: string;
  udp_ports: string | null;
  scripts: string[];
  nmap_args: string[];
  /** 'scout' for a scouting job of a two-stage run; 'scan' when absent. */
  stage?: 'scout' | 'scan';
}

/** Stores a run's planned jobs as queued, in one statement per 1,000 so an 8,000-job plan takes a few round trips. */
export async function insertQueuedJobs(tx: StoreSession, runId: string, jobs: readonly PlannedJobRow[]): Promise<void> {
  for (let i = 0; i < jobs.length; i += 1000) {
    await tx.query(
      `insert into jobs (id, run_id, index, targets, address_count, tcp_ports, udp_ports, scripts, nmap_args, status, stage)
       select x.id, $2, x.index, array(select jsonb_array_elements_text(x.targets)), x.address_count, x.tcp_ports, x.udp_ports,
         array(select jsonb_array_elements_text(x.scripts)), array(select jsonb_array_elements_text(x.nmap_args)), 'queued',
         coalesce(x.stage, 'scan')
       from jsonb_to_recordset($1::jsonb) as x(id text, index int, targets jsonb, address_count int, tcp_ports text, udp_ports text,
         scripts jsonb, nmap_args jsonb, stage text)`,
      [JSON.stringify(jobs.slice(i, i + 1000)), runId],
    );
  }
}

/** The jobs of a run with index in [fromIndex, fromIndex + count), in index order. */
export async function jobsInIndexRange(
  store: StoreSession,
  runId: string,
  fromIndex: number,
  count: number,
): Promise<Array<PlannedJobRow & { ingested_at: Date | null; status: string; stage: string }>> {
  return store.query(
    `select id, index, targets, address_count, tcp_ports, udp_ports, scripts, nmap_args, ingested_at, status, stage from jobs
     where run_id = $1 and index >= $2 and index < $3 order by index`,
    [runId, fromIndex, fromIndex + count],
  );
}

/** A job's run's scanner (runs.progress; null for nmap runs stored before scanners were recorded), as a column. */
const RUN_SCANNER = `(select r.progress->>'scanner' from runs r where r.id = jobs.run_id) as scanner`;

/** What ingesting a job needs to know of it; undefined when there is no such job. */
export interface JobToIngest {
  id: string;
  run_id: string;
  index: number;
  targets: string[];
  tcp_ports: string;
  udp_ports: string | null;
  address_count: number;
  ingested_at: Date | null;
  error: string | null;
  progress: { ingest?: unknown };
  /** The run's scanner (runs.progress), null for nmap runs stored before scanners were recorded. */
  scanner: string | null;
  /** 'scout' for a scouting job of a two-stage run (masscan), 'scan' otherwise. */
  stage: string;
}
export async function jobToIngest(store: StoreSession, jobId: string): Promise<JobToIngest | undefined> {
  const [job] = await store.query<JobToIngest>(
    `select id, run_id, index, targets, tcp_ports, udp_ports, address_count, ingested_at, error, progress, stage,
       ${RUN_SCANNER}
     from jobs where id = $1`,
    [jobId],
  );
  return job;
}

/** Where a job handed to a legacy agent stands; undefined when the job no longer exists. */
export async function handedOffJobState(
  store: StoreSession,
  jobId: string,
): Promise<{ status: string; ingested_at: Date | null; result_sha256: string | null; error: string | null } | undefined> {
  const [job] = await store.query<{ status: string; ingested_at: Date | null; result_sha256: string | null; error: string | null }>(
    'select status, ingested_at, result_sha256, error from jobs where id = $1',
    [jobId],
  );
  return job;
}

/** A job as an agent's upload is checked against; undefined when there is no such job. */
export interface JobForUpload {
  id: string;
  run_id: string;
  agent: string | null;
  status: string;
  targets: string[];
  tcp_ports: string;
  udp_ports: string | null;
  ingested_at: Date | null;
  result_sha256: string | null;
  /** The run's scanner (runs.progress), null for nmap runs stored before scanners were recorded. */
  scanner: string | null;
  /** 'scout' for a scouting job of a two-stage run (masscan), 'scan' otherwise. */
  stage: string;
}
export async function jobForUpload(store: StoreSession, jobId: string): Promise<JobForUpload | undefined> {
  const [job] = await store.query<JobForUpload>(
    `select id, run_id, agent, status, targets, tcp_ports, udp_ports, ingested_at, result_sha256, stage,
       ${RUN_SCANNER}
     from jobs where id = $1`,
    [jobId],
  );
  return job;
}

/** Marks a job running on `runner` (the first start time and runner kept; never an ingested job), counting the attempt. */
export async function markJobRunning(store: StoreSession, jobId: string, at: Date, runner: string | null): Promise<void> {
  await store.query(
    `update jobs set status = 'running', started_at = coalesce(started_at, $2), attempts = attempts + 1, agent = coalesce($3, agent)
     where id = $1 and ingested_at is null`,
    [jobId, at.toISOString(), runner],
  );
}

/** Marks a job partial with the reason (its result was stored only in part). */
export async function markJobPartial(store: StoreSession, jobId: string, error: string): Promise<void> {
  await store.query(`update jobs set status = 'partial', error = $2 where id = $1`, [jobId, error]);
}

/** Keeps the outcome of a job's ingest on the job, so a repeated ingest returns it unchanged. */
export async function recordIngestOutcome(store: StoreSession, jobId: string, outcome: object): Promise<void> {
  await store.query(`update jobs set progress = progress || jsonb_build_object('ingest', $2::jsonb) where id = $1`, [jobId, JSON.stringify(outcome)]);
}

/** Marks a job of a run failed (never an ingested one); the error is cut to 2,000 characters. */
export async function markJobFailed(store: StoreSession, runId: string, jobId: string, error: string, at: Date): Promise<void> {
  await store.query(`update jobs set status = 'failed', error = $3, finished_at = $4 where id = $1 and run_id = $2 and ingested_at is null`, [
    jobId,
    runId,
    error.slice(0, 2000),
    at.toISOString(),
  ]);
}

/** Cancels the jobs of a run that are still queued or running. */
export async function cancelOpenJobs(store: StoreSession, runId: string, at: Date): Promise<void> {
  await store.query(`update jobs set status = 'cancelled', finished_at = $2 where run_id = $1 and status in ('queued', 'running')`, [runId, at.toISOString()]);
}

/** Jobs by status, for the metrics endpoint. */
export async function jobsByStatus(store: StoreSession): Promise<Map<string, number>> {
  const rows = await store.query<{ k: string; n: number }>('select status as k, count(*)::int as n from jobs group by status');
  return new Map(rows.map((r) => [r.k, Number(r.n)]));
}

/** How many jobs wait for a scanner (status queued). */
export async function queuedJobCount(store: StoreSession): Promise<number> {
  const [r] = await store.query<{ n: number }>("select count(*)::int as n from jobs where status = 'queued'");
  return Number(r?.n ?? 0);
}
