import { relations } from 'drizzle-orm';
import { index, inet, integer, pgTable, text } from 'drizzle-orm/pg-core';
import { portObservations } from './port-observations.ts';

/**
 * The score of every port observation (same `id`), where search's sort by score walks its index (issue 26).
 *
 * Why a separate table: `port_observations.score` stays the column every writer and reader uses, but an index
 * on it made every score change (a first apply, a weights edit, ingest's rescoring) a non-HOT update of the
 * wide row, with a new entry in each of its indexes. A trigger on port_observations (migration 0029) keeps
 * this copy in step: one row per observation. It carries the address too, so a sort by score walks one index
 * in exactly the order search pages in (score desc, ip, id), ties included: with the score alone, a page of a
 * broad query sorted every match of its best score (most documents score 0). And its port, so that the walk
 * skips the documents a query's port or address terms rule out without reading their wide rows.
 */
export const observationScores = pgTable(
  'observation_scores',
  {
    id: text('id')
      .primaryKey()
      .references(() => portObservations.id, { onDelete: 'cascade' }),
    score: integer('score').notNull(),
    /** The observation's address (never changes): search's sort by score, (score desc, ip, id), is this index's order. */
    ip: inet('ip').notNull(),
    /**
     * The observation's port (never changes either). Last in the index, after the unique id, so it changes no
     * order: a walk by score checks a query's port terms in the index before it reads any document.
     */
    port: integer('port').notNull(),
  },
  (t) => [index('observation_scores_order_idx').on(t.score.desc().nullsFirst(), t.ip, t.id, t.port)],
);

export const observationScoresRelations = relations(observationScores, ({ one }) => ({
  observation: one(portObservations, { fields: [observationScores.id], references: [portObservations.id] }),
}));

export type ObservationScoresRow = typeof observationScores.$inferSelect;
