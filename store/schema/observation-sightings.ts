import { relations } from 'drizzle-orm';
import { index, integer, pgTable, text } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';
import { portObservations } from './port-observations.ts';

/**
 * What a sighting changes on a port observation (issue 3, ingest speed): one
 * narrow row per port_observations row, same `id` (readers join with
 * `join observation_sightings using (id)`).
 *
 * Why a separate table: a stable sighting (same fingerprint seen again) only
 * moves last_seen, times_seen, checked_at and the last run/job. On the wide,
 * heavily indexed port_observations row (document, 11 trigram columns, full
 * text) every such update wrote a new row version into every index. Here it
 * touches three small btrees (an order of magnitude cheaper per row: figures in
 * bench/HISTORY.md), and the document row is only rewritten when its state, tags
 * or score change.
 */
export const observationSightings = pgTable(
  'observation_sightings',
  {
    id: text('id')
      .primaryKey()
      .references(() => portObservations.id, { onDelete: 'cascade' }),
    /** Scan times (nmap's host times), never the ingest clock. */
    lastSeen: tstz('last_seen').notNull(),
    timesSeen: integer('times_seen').notNull().default(1),
    /** Latest scan time at which a scan covered the slot (open or not); orders out-of-order imports. */
    checkedAt: tstz('checked_at').notNull(),
    lastRunId: text('last_run_id'),
    lastJobId: text('last_job_id'),
  },
  (t) => [
    // Search pages by last_seen (newest first): with the id in the index the walk over the newest sightings is
    // an index-only scan instead of a heap visit per sighting (bench/search.ts measures it). The primary
    // key also carries last_seen (INCLUDE, migration 0018: drizzle cannot declare it), so a search that matches
    // first reads each match's last_seen from the key alone. A run's findings and investigations select by last run.
    index('observation_sightings_last_seen_id_idx').on(t.lastSeen, t.id),
    index('observation_sightings_last_run_idx').on(t.lastRunId),
  ],
);

export const observationSightingsRelations = relations(observationSightings, ({ one }) => ({
  observation: one(portObservations, { fields: [observationSightings.id], references: [portObservations.id] }),
}));

export type ObservationSightingRow = typeof observationSightings.$inferSelect;
