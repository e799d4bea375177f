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
     returning id, run_id, agent, targets`, [jobId, agentName, attempt]);
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
