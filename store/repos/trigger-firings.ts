import type { Store, StoreSession } from '../index.ts';

/**
 * Trigger firings (store/schema/trigger-firings.ts): what the dispatcher claims into runs, what a triggered run
 * scans, and what `plum runs show` and the API show as a run's origin.
 */

export interface FiringRow {
  id: string;
  profile_id: string;
  profile_name: string;
  ip: string;
  protocol: string;
  port: number;
  hsh256: string;
  observation_id: string;
  query: string;
  status: string;
  fired_at: Date;
  claimed_at: Date | null;
  dispatched_at: Date | null;
  workflow_id: string | null;
  run_id: string | null;
  error: string | null;
}

const COLUMNS = `f.id, f.profile_id, p.name as profile_name, host(f.ip) as ip, f.protocol, f.port, f.hsh256, f.observation_id, f.query,
  f.status, f.fired_at, f.claimed_at, f.dispatched_at, f.workflow_id, f.run_id, f.error`;

export const firingJson = (f: FiringRow) => ({
  id: f.id,
  profile: f.profile_name,
  ip: f.ip,
  protocol: f.protocol,
  port: f.port,
  hsh256: f.hsh256,
  observationId: f.observation_id,
  query: f.query,
  status: f.status,
  firedAt: f.fired_at.toISOString(),
  runId: f.run_id,
  workflowId: f.workflow_id,
  error: f.error,
});

/** The enabled trigger profiles that have firings waiting. */
export async function profilesWithPendingFirings(store: StoreSession): Promise<Array<{ id: string; name: string }>> {
  return store.query<{ id: string; name: string }>(
    `select p.id, p.name from scan_profiles p
     where p.trigger is not null and p.enabled and exists (select 1 from trigger_firings f where f.profile_id = p.id and f.status = 'pending')
     order by p.name`,
  );
}

/** The oldest pending firings of a profile (what the next claim would take). */
export async function pendingFirings(store: StoreSession, profileId: string, limit: number): Promise<FiringRow[]> {
  return store.query<FiringRow>(
    `select ${COLUMNS} from trigger_firings f join scan_profiles p on p.id = f.profile_id
     where f.profile_id = $1 and f.status = 'pending' order by f.fired_at, f.id limit $2`,
    [profileId, limit],
  );
}

/** Marks firings the scope guard refused: never scanned, kept so the refusal shows. */
export async function refuseFirings(store: StoreSession, ids: string[], reason: string): Promise<void> {
  if (ids.length === 0) return;
  await store.query(
    `update trigger_firings set status = 'out_of_scope', error = $2
     where id in (select jsonb_array_elements_text($1::jsonb)) and status = 'pending'`,
    [JSON.stringify(ids), reason],
  );
}

export interface Claim {
  workflowId: string;
  profile: string;
  firings: number;
}

/**
 * Claims a profile's pending firings (these ids, those still pending) into one run, unless the profile already
 * started `perHour` runs in the hour before `now`: then nothing is claimed and the firings wait. Two dispatchers
 * (two processes) serialise on the profile's advisory lock, so the limit holds across them. The run's workflow id
 * is derived from its first firing, so a claim restarted after a crash keeps its id.
 */
export async function claimFirings(
  store: Store,
  input: { profileId: string; profile: string; ids: string[]; perHour: number; now: Date },
): Promise<Claim | undefined> {
  if (input.ids.length === 0) return undefined;
  return store.transaction(async (tx) => {
    await tx.query(`select pg_advisory_xact_lock(hashtext('plum:trigger:' || $1))`, [input.profileId]);
    const [recent] = await tx.query<{ n: number }>(
      `select count(distinct workflow_id)::int as n from trigger_firings
       where profile_id = $1 and workflow_id is not null and claimed_at > $2::timestamptz - interval '1 hour'`,
      [input.profileId, input.now.toISOString()],
    );
    if (Number(recent?.n ?? 0) >= input.perHour) return undefined;
    const rows = await tx.query<{ id: string }>(
      `select id from trigger_firings where id in (select jsonb_array_elements_text($1::jsonb)) and status = 'pending'
       order by fired_at, id for update`,
      [JSON.stringify(input.ids)],
    );
    if (rows.length === 0) return undefined;
    const workflowId = `trigger:${input.profile}:${rows[0]!.id}`;
    await tx.query(
      `update trigger_firings set status = 'claimed', claimed_at = $2, workflow_id = $3
       where id in (select jsonb_array_elements_text($1::jsonb))`,
      [JSON.stringify(rows.map((r) => r.id)), input.now.toISOString(), workflowId],
    );
    return { workflowId, profile: input.profile, firings: rows.length };
  });
}

/** Claims whose run was never started (a crash between the claim and the start): started again under their id. */
export async function undispatchedClaims(store: StoreSession): Promise<Claim[]> {
  return store.query<Claim>(
    `select f.workflow_id as "workflowId", p.name as profile, count(*)::int as firings
     from trigger_firings f join scan_profiles p on p.id = f.profile_id
     where f.status = 'claimed' and f.dispatched_at is null group by f.workflow_id, p.name order by min(f.claimed_at)`,
  );
}

export async function markDispatched(store: StoreSession, workflowId: string, at: Date): Promise<void> {
  await store.query(`update trigger_firings set dispatched_at = coalesce(dispatched_at, $2) where workflow_id = $1`, [workflowId, at.toISOString()]);
}

/** A claim whose run could not start (refused at planning): its firings say why, and are not started again. */
export async function failClaim(store: StoreSession, workflowId: string, error: string, at: Date): Promise<void> {
  await store.query(`update trigger_firings set status = 'failed', error = $2, dispatched_at = coalesce(dispatched_at, $3) where workflow_id = $1`, [
    workflowId,
    error.slice(0, 2000),
    at.toISOString(),
  ]);
}

/** The firings a triggered run scans (planRun), oldest first. */
export async function firingsOfWorkflow(store: StoreSession, workflowId: string): Promise<FiringRow[]> {
  return store.query<FiringRow>(
    `select ${COLUMNS} from trigger_firings f join scan_profiles p on p.id = f.profile_id
     where f.workflow_id = $1 order by f.fired_at, f.id`,
    [workflowId],
  );
}

/** Links a claim's firings to the run planned for them. */
export async function linkFiringsToRun(store: StoreSession, workflowId: string, runId: string): Promise<void> {
  await store.query(`update trigger_firings set run_id = $2 where workflow_id = $1`, [workflowId, runId]);
}

/** The firings of a run: its origin. */
export async function firingsOfRun(store: StoreSession, runId: string, limit = 100): Promise<FiringRow[]> {
  return store.query<FiringRow>(
    `select ${COLUMNS} from trigger_firings f join scan_profiles p on p.id = f.profile_id
     where f.run_id = $1 order by f.fired_at, f.id limit $2`,
    [runId, limit],
  );
}

/** A profile's firings, newest first (tests, `plum profile show`). */
export async function firingsOfProfile(store: StoreSession, profileId: string, limit = 100): Promise<FiringRow[]> {
  return store.query<FiringRow>(
    `select ${COLUMNS} from trigger_firings f join scan_profiles p on p.id = f.profile_id
     where f.profile_id = $1 order by f.fired_at desc, f.id desc limit $2`,
    [profileId, limit],
  );
}
