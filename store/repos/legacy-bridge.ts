import type { Store, StoreSession } from '../index.ts';

/*
 * Distributed mode's bridge to the predecessor's agents (workers/legacy-bridge.ts):
 * the jobs whose nmap activity the bridge holds, with the task token of the
 * attempt it holds. The token completes that activity for whoever has it, so
 * it is read only here and by the bridge, and never selected by another query.
 *
 * A routed job (`progress.bridge`) is claimable by getjob only once the bridge
 * holds its token (store/repos/legacy-agents.ts claimLegacyJob): an agent's
 * result then always has an activity to complete.
 */

export interface BridgeRouteCounts {
  udp: boolean;
  legacyAgents: number;
  legacyWaiting: number;
  plumAgents: number;
}

/** Two workflows routing at once must not both take the last waiting place: routing is serialised by this lock. */
const ROUTE_LOCK_KEY = 0x706c756d01;

/**
 * Reads what routeJob (core/bot-api/bridge-route.ts) weighs and, when `decide` says so, marks the job routed to
 * the predecessor's agents (it counts as waiting for them from then on), in one serialised transaction.
 */
export async function routeJobForBridge(
  store: Store,
  jobId: string,
  seen: { legacySeconds: number; plumSeconds: number },
  decide: (counts: BridgeRouteCounts) => boolean,
): Promise<boolean> {
  return store.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [ROUTE_LOCK_KEY]);
    const legacy = decide(await bridgeRouteCounts(tx, jobId, seen.legacySeconds, seen.plumSeconds));
    if (legacy) await markJobRoutedToLegacy(tx, jobId);
    return legacy;
  });
}

async function bridgeRouteCounts(store: StoreSession, jobId: string, legacySeenSeconds: number, plumSeenSeconds: number): Promise<BridgeRouteCounts> {
  const [row] = await store.query<{ udp: boolean | null; legacy_agents: number; legacy_waiting: number; plum_agents: number }>(
    `select (select udp_ports is not null and udp_ports <> '' from jobs where id = $1) as udp,
       (select count(*)::int from legacy_agents where last_seen_at > now() - make_interval(secs => $2)) as legacy_agents,
       (select count(*)::int from jobs where progress->>'executor' = 'legacy' and status = 'queued' and agent is null and ingested_at is null) as legacy_waiting,
       (select count(*)::int from agents where disabled_at is null and last_heartbeat_at > now() - make_interval(secs => $3)) as plum_agents`,
    [jobId, legacySeenSeconds, plumSeenSeconds],
  );
  return {
    udp: Boolean(row?.udp),
    legacyAgents: Number(row?.legacy_agents ?? 0),
    legacyWaiting: Number(row?.legacy_waiting ?? 0),
    plumAgents: Number(row?.plum_agents ?? 0),
  };
}

async function markJobRoutedToLegacy(store: StoreSession, jobId: string): Promise<void> {
  await store.query(
    `update jobs set status = 'queued', agent = null, progress = progress || '{"executor": "legacy", "bridge": true}'::jsonb
     where id = $1 and ingested_at is null and status in ('queued', 'running')`,
    [jobId],
  );
}

export type HoldOutcome = { kind: 'held' } | { kind: 'ingested'; sha256: string | null; startedAt: Date | null } | { kind: 'cancelled' } | { kind: 'gone' };

/**
 * Stores the token of the attempt the bridge now holds. A later attempt (the
 * earlier one timed out: its agent went silent) resets the claim, so the job is
 * offered again and the silent agent's late result is refused (403).
 */
export async function holdJobForLegacy(store: StoreSession, jobId: string, token: Uint8Array, attempt: number): Promise<HoldOutcome> {
  const held = await store.query(
    `update jobs set legacy_task_token = $2, legacy_attempt = $3,
       status = case when coalesce(legacy_attempt, 0) < $3 then 'queued' else status end,
       agent = case when coalesce(legacy_attempt, 0) < $3 then null else agent end,
       progress = progress || '{"executor": "legacy", "bridge": true}'::jsonb
     where id = $1 and ingested_at is null and status in ('queued', 'running') and coalesce(legacy_attempt, 0) <= $3
     returning id`,
    [jobId, Buffer.from(token), attempt],
  );
  if (held.length > 0) return { kind: 'held' };
  const [job] = await store.query<{ ingested_at: Date | null; result_sha256: string | null; started_at: Date | null; status: string }>(
    'select ingested_at, result_sha256, started_at, status from jobs where id = $1',
    [jobId],
  );
  if (!job) return { kind: 'gone' };
  if (job.ingested_at) return { kind: 'ingested', sha256: job.result_sha256, startedAt: job.started_at };
  return job.status === 'cancelled' ? { kind: 'cancelled' } : { kind: 'gone' };
}

export interface BridgedJob {
  id: string;
  runId: string;
  token: Buffer;
  ingested: boolean;
  sha256: string | null;
  startedAt: Date | null;
}

const toBridged = (r: {
  id: string;
  run_id: string;
  legacy_task_token: Uint8Array;
  ingested_at: Date | null;
  result_sha256: string | null;
  started_at: Date | null;
}): BridgedJob => ({
  id: r.id,
  runId: r.run_id,
  token: Buffer.from(r.legacy_task_token),
  ingested: Boolean(r.ingested_at),
  sha256: r.result_sha256,
  startedAt: r.started_at,
});

/** Every job whose activity attempt the bridge holds (heartbeated on a timer, completed once ingested). */
export async function bridgedJobs(store: StoreSession): Promise<BridgedJob[]> {
  const rows = await store.query<Parameters<typeof toBridged>[0]>(
    'select id, run_id, legacy_task_token, ingested_at, result_sha256, started_at from jobs where legacy_task_token is not null order by created_at, index',
  );
  return rows.map(toBridged);
}

/** One job's held attempt, if the bridge holds one. */
export async function bridgedJob(store: StoreSession, jobId: string): Promise<BridgedJob | undefined> {
  const [row] = await store.query<Parameters<typeof toBridged>[0]>(
    'select id, run_id, legacy_task_token, ingested_at, result_sha256, started_at from jobs where id = $1 and legacy_task_token is not null',
    [jobId],
  );
  return row ? toBridged(row) : undefined;
}

/** Forgets a token once its attempt is completed or over; a newer attempt's token is kept. */
export async function releaseBridgeToken(store: StoreSession, jobId: string, token: Uint8Array): Promise<void> {
  await store.query('update jobs set legacy_task_token = null where id = $1 and legacy_task_token = $2', [jobId, Buffer.from(token)]);
}

/** Temporal cancelled the held attempt (its run was cancelled): the job is cancelled, a late result gets 409. */
export async function cancelBridgedJob(store: StoreSession, jobId: string, token: Uint8Array): Promise<void> {
  await store.query(
    `update jobs set status = 'cancelled', finished_at = coalesce(finished_at, now()), legacy_task_token = null
     where id = $1 and legacy_task_token = $2 and ingested_at is null`,
    [jobId, Buffer.from(token)],
  );
}
