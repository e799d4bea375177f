import type { Store } from './index.ts';

/*
 * VACUUM and ANALYZE for databases nobody else maintains. PGlite never runs
 * autovacuum (single-user mode), and a server may run without it (this
 * project's CI server does). Without statistics the planner takes a
 * million-row table for an empty one (a seq scan per ingest batch and per
 * search), and without vacuum every stable sighting leaves a dead row in
 * observation_sightings. Writers report how many rows they wrote
 * (table_maintenance, so small ingests from any process add up); once that
 * reaches a tenth of the table, one of them runs the maintenance.
 */

/** What runs, in order. The wide port_observations table is only analysed: a vacuum would read all of it, and its rows are rarely updated (state, tags, score). */
const STEPS = [
  'vacuum (analyze) observation_sightings',
  'analyze port_observations',
  'analyze observation_events',
];
const GROUP = 'observations';
/** Rows written before maintenance is considered at all (writers may batch their reports up to this). */
export const MAINTENANCE_MIN_ROWS = 5_000;
/** Fraction of the table written since the last maintenance that triggers it (autovacuum's analyze default). */
const FRACTION = 0.1;

const autovacuumOn = new WeakMap<Store, boolean>();

/** Whether the server maintains the tables itself (then Plum leaves it alone). */
async function serverMaintains(store: Store): Promise<boolean> {
  if (store.kind === 'pglite') return false;
  let on = autovacuumOn.get(store);
  if (on === undefined) {
    const [r] = await store.query<{ on: boolean }>(`select current_setting('autovacuum') = 'on' as on`);
    on = r?.on === true;
    autovacuumOn.set(store, on);
  }
  return on;
}

/**
 * Records `rows` written to the observation tables and, when enough has
 * accumulated, runs VACUUM/ANALYZE (outside any transaction). Returns whether it ran.
 */
export async function noteObservationWrites(store: Store, rows: number): Promise<boolean> {
  if (rows <= 0 || (await serverMaintains(store))) return false;
  // Count the rows, and read the table's size (as of its last analysis) in the same statement.
  const [counted] = await store.query<{ pending: number; size: number }>(
    `insert into table_maintenance (table_name, pending_rows) values ($1, $2)
     on conflict (table_name) do update set pending_rows = table_maintenance.pending_rows + excluded.pending_rows
     returning pending_rows as pending,
       (select greatest(reltuples, 0)::float8 from pg_class where oid = 'observation_sightings'::regclass) as size`, [GROUP, rows]);
  const threshold = Math.ceil(Math.max(MAINTENANCE_MIN_ROWS, FRACTION * Number(counted?.size ?? 0)));
  if (Number(counted?.pending ?? 0) < threshold) return false;
  // Claim the run (compare-and-set): one writer runs it, the others go on.
  const [won] = await store.query(
    `update table_maintenance set pending_rows = 0, last_run_at = now() where table_name = $1 and pending_rows >= $2 returning 1`,
    [GROUP, threshold]);
  if (!won) return false;
  for (const step of STEPS) await store.query(step);
  return true;
}
