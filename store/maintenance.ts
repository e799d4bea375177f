import type { Store } from './index.ts';

/*
 * VACUUM and ANALYZE for databases nobody else maintains. PGlite never runs
 * autovacuum (single-user mode), and a server may run without it (this
 * project's CI server does). Without statistics the planner takes a
 * million-row table for an empty one (a seq scan per ingest batch and per
 * search), and without vacuum every stable sighting leaves a dead row in
 * observation_sightings. Writers report how many rows they wrote to each
 * table (table_maintenance, so small ingests from any process add up); once
 * that reaches its share of a table (below), one of them maintains that
 * table, as autovacuum decides per table.
 *
 * Per table, not per group: a stable pass rewrites every sighting but no
 * document row, and analysing the wide port_observations table after each
 * tenth of the sightings took a large share of a stable ingest (bench/ingest.ts,
 * bench/HISTORY.md).
 */

/**
 * The tables Plum maintains, what maintaining each one runs, and the fraction
 * of the table written since its last run that triggers it: autovacuum's
 * defaults (autovacuum_vacuum_scale_factor 0.2, autovacuum_analyze_scale_factor 0.1).
 */
const MAINTAINED = {
  /**
   * Narrow, rewritten by every sighting: vacuumed so its dead rows are reused and its index-only scans stay
   * index-only. At a fifth, as autovacuum would: at a tenth, a large stable pass ran many vacuums, each costing
   * CPU beside the ingest, for a table that stays only a little larger at a fifth.
   */
  observation_sightings: { sql: 'vacuum (analyze) observation_sightings', fraction: 0.2 },
  /**
   * Wide, rarely updated (state, current, tags, score): analysed only (a vacuum would read all of it). Its
   * narrow copies of the tags and scores (observation_tags, observation_scores: written by triggers with it)
   * are analysed with it.
   */
  port_observations: { sql: 'analyze port_observations, observation_tags, observation_scores', fraction: 0.1 },
  /** Append-only. */
  observation_events: { sql: 'analyze observation_events', fraction: 0.1 },
} as const;
export type MaintainedTable = keyof typeof MAINTAINED;
/** Rows written to each maintained table. */
export type TableWrites = Partial<Record<MaintainedTable, number>>;

/** Rows written to a table before its maintenance is considered at all (writers may batch their reports up to this). */
export const MAINTENANCE_MIN_ROWS = 5_000;

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

const TABLES = Object.keys(MAINTAINED) as MaintainedTable[];

/** Rows written to `table` (of `size` rows as last analysed) that trigger its maintenance. */
export function maintenanceThreshold(table: MaintainedTable, size: number): number {
  return Math.ceil(Math.max(MAINTENANCE_MIN_ROWS, MAINTAINED[table].fraction * size));
}

/** Adds `more` to `into` (a writer's running count between reports); returns the total rows counted in `into`. */
export function addWrites(into: TableWrites, more: TableWrites): number {
  let total = 0;
  for (const t of TABLES) total += into[t] = (into[t] ?? 0) + (more[t] ?? 0);
  return total;
}

/**
 * Records the rows written to each observation table and, for every table
 * where enough has accumulated, runs its VACUUM/ANALYZE (outside any
 * transaction). Returns the tables it maintained.
 */
export async function noteObservationWrites(store: Store, writes: TableWrites): Promise<MaintainedTable[]> {
  const tables = TABLES.filter((t) => (writes[t] ?? 0) > 0);
  if (tables.length === 0 || (await serverMaintains(store))) return [];
  // Count the rows, and read each table's size (as of its last analysis), in one statement.
  const counted = await store.query<{ table_name: MaintainedTable; pending: number; size: number }>(
    `insert into table_maintenance (table_name, pending_rows)
       select * from unnest($1::text[], $2::bigint[])
     on conflict (table_name) do update set pending_rows = table_maintenance.pending_rows + excluded.pending_rows
     returning table_name, pending_rows as pending,
       (select greatest(reltuples, 0)::float8 from pg_class where oid = table_name::regclass) as size`,
    [tables, tables.map((t) => writes[t]!)],
  );
  const ran: MaintainedTable[] = [];
  for (const t of tables) {
    const row = counted.find((r) => r.table_name === t);
    const threshold = maintenanceThreshold(t, Number(row?.size ?? 0));
    if (Number(row?.pending ?? 0) < threshold) continue;
    // Claim the run (compare-and-set): one writer runs it, the others go on.
    const [won] = await store.query(
      `update table_maintenance set pending_rows = 0, last_run_at = now() where table_name = $1 and pending_rows >= $2 returning 1`,
      [t, threshold],
    );
    if (!won) continue;
    await store.query(MAINTAINED[t].sql);
    ran.push(t);
  }
  return ran;
}
