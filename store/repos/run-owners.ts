import type { Store, StoreSession } from '../index.ts';

/*
 * Which process runs an embedded run, and cancellation requests to it. An
 * embedded run (plum run, investigate, ingest, scheduler, serve) records its
 * owner in runs.progress.owner; a run whose owner is gone can be marked as
 * interrupted by any later plum process, and `plum runs cancel` asks the
 * owner (on any machine: it polls the database) to stop through
 * runs.progress.cancelRequested. Temporal runs have no owner: their worker
 * is durable and resumes them.
 */

export interface RunOwner {
  host: string;
  pid: number;
  /** When the owning process started (ISO-8601): tells a reused pid from the owner. */
  startedAt: string;
}

export const ACTIVE_RUN_STATUSES = ['queued', 'running'] as const;

/** Records the process that runs `runId` (a resumed run gets its new owner). */
export async function claimRun(store: StoreSession, runId: string, owner: RunOwner): Promise<void> {
  await store.query(`update runs set progress = progress || jsonb_build_object('owner', $2::jsonb) where id = $1`, [runId, JSON.stringify(owner)]);
}

/** Asks the owner of an active run to cancel it; false when the run is not active. */
export async function requestCancel(store: StoreSession, runId: string, at: Date): Promise<boolean> {
  const rows = await store.query(
    `update runs set progress = progress || jsonb_build_object('cancelRequested', $2::text)
      where id = $1 and status in ('queued', 'running') returning id`,
    [runId, at.toISOString()],
  );
  return rows.length > 0;
}

/** Whether someone asked to cancel the run (`plum runs cancel`). */
export async function cancelRequested(store: StoreSession, runId: string): Promise<boolean> {
  const [r] = await store.query<{ requested: string | null }>(`select progress->>'cancelRequested' as requested from runs where id = $1`, [runId]);
  return Boolean(r?.requested);
}

/** Active runs with a recorded owner. */
export async function ownedActiveRuns(store: StoreSession): Promise<{ id: string; owner: RunOwner }[]> {
  return store.query<{ id: string; owner: RunOwner }>(
    `select id, progress->'owner' as owner from runs where status in ('queued', 'running') and progress ? 'owner'`,
  );
}

/**
 * Ends an active run whose process is gone: cancelled (the scheduler resumes a
 * cancelled scheduled run at its next tick), with the reason in `error`, and
 * its unfinished jobs cancelled. False when the run had already ended.
 */
export async function markInterrupted(store: Store, runId: string, reason: string, at: Date): Promise<boolean> {
  return store.transaction(async (tx) => {
    const rows = await tx.query(
      `update runs set status = 'cancelled', finished_at = $2, error = $3 where id = $1 and status in ('queued', 'running') returning id`,
      [runId, at.toISOString(), reason.slice(0, 4000)],
    );
    if (rows.length === 0) return false;
    await tx.query(`update jobs set status = 'cancelled', finished_at = $2 where run_id = $1 and status in ('queued', 'running')`, [runId, at.toISOString()]);
    return true;
  });
}
