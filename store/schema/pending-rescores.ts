import { relations } from 'drizzle-orm';
import { inet, pgTable } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';

/**
 * Hosts whose scores are owed: written in the transaction of the ingest batch
 * that touched them, removed once they are rescored. Scores are computed after
 * the batch commits (they need the slot's history), so a process killed in
 * between leaves its hosts here, and the next ingest or run finishes them.
 */
export const pendingRescores = pgTable('pending_rescores', {
  ip: inet('ip').primaryKey(),
  queuedAt: tstz('queued_at').notNull().defaultNow(),
});

export const pendingRescoresRelations = relations(pendingRescores, () => ({}));
