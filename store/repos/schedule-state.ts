import type { StoreSession } from '../index.ts';

/**
 * The embedded scheduler's memory (store/schema/schedule-state.ts): the last cycle slot claimed per
 * profile and the run started for it, and when a profile last ran at all.
 */

export interface ScheduleState {
  lastScheduledFor: Date | null;
  lastWorkflowId: string | null;
}

export async function scheduleStateOf(store: StoreSession, profileId: string): Promise<ScheduleState | undefined> {
  const [row] = await store.query<{ last_scheduled_for: Date | null; last_workflow_id: string | null }>(
    'select last_scheduled_for, last_workflow_id from schedule_state where profile_id = $1',
    [profileId],
  );
  return row ? { lastScheduledFor: row.last_scheduled_for ? new Date(row.last_scheduled_for) : null, lastWorkflowId: row.last_workflow_id } : undefined;
}

/**
 * Claims `slot` for a profile: compare-and-set on the slot claimed before (`previous`), so of two
 * schedulers sharing a database only one starts the slot's run. False when another claimed it first.
 */
export async function claimScheduleSlot(
  store: StoreSession,
  claim: { profileId: string; slot: Date; workflowId: string; skipped: Date[]; previous: Date | null },
): Promise<boolean> {
  const claimed = await store.query(
    `insert into schedule_state (profile_id, last_scheduled_for, last_workflow_id, skipped_slots, updated_at)
     values ($1, $2, $3, $4::text[], now())
     on conflict (profile_id) do update set last_scheduled_for = excluded.last_scheduled_for, last_workflow_id = excluded.last_workflow_id,
       skipped_slots = excluded.skipped_slots, last_run_id = null, updated_at = now()
     where schedule_state.last_scheduled_for is not distinct from $5
     returning profile_id`,
    [
      claim.profileId,
      claim.slot.toISOString(),
      claim.workflowId,
      claim.skipped.map((d) => d.toISOString()),
      claim.previous ? claim.previous.toISOString() : null,
    ],
  );
  return claimed.length > 0;
}

/** Records the run started for the claimed slot `workflowId` (unless a later slot was claimed since). */
export async function recordScheduledRun(store: StoreSession, profileId: string, workflowId: string, runId: string): Promise<void> {
  await store.query('update schedule_state set last_run_id = $2, updated_at = now() where profile_id = $1 and last_workflow_id = $3', [
    profileId,
    runId,
    workflowId,
  ]);
}

/** The status of the run with this workflow id, if it exists. */
export async function runStatusOfWorkflow(store: StoreSession, workflowId: string): Promise<string | undefined> {
  const [run] = await store.query<{ status: string }>('select status from runs where workflow_id = $1', [workflowId]);
  return run?.status;
}

/** When the profile last ran (scheduled or by hand): a manual run followed by the scheduler does not scan twice in a row. */
export async function lastProfileRunStart(store: StoreSession, profileId: string): Promise<Date | null> {
  const [r] = await store.query<{ at: Date | null }>(
    `select max(coalesce(scheduled_for, started_at)) as at from runs where profile_id = $1 and kind = 'profile'`,
    [profileId],
  );
  return r?.at ? new Date(r.at) : null;
}
