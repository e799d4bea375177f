import { relations } from 'drizzle-orm';
import { bigint, pgTable, text } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';

/**
 * Rows written to a table since Plum last ran VACUUM/ANALYZE on it
 * (store/maintenance.ts). PGlite has no autovacuum at all, and a server may run
 * without it: without statistics the planner takes a 1M-row table for an empty
 * one (seq scans per ingest batch, per search), and without vacuum every stable
 * sighting leaves a dead row behind. Counted in the database so that many small
 * ingests, from any process, add up.
 */
export const tableMaintenance = pgTable('table_maintenance', {
  tableName: text('table_name').primaryKey(),
  pendingRows: bigint('pending_rows', { mode: 'number' }).notNull().default(0),
  lastRunAt: tstz('last_run_at'),
});

export const tableMaintenanceRelations = relations(tableMaintenance, () => ({}));
