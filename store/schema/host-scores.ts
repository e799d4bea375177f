import { relations } from 'drizzle-orm';
import { index, inet, integer, jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';

/**
 * The exposure score of each host with current open ports, computed from its
 * port observations (core/score.ts scoreHost) at ingest and by `plum rules apply`.
 */
export const hostScores = pgTable(
  'host_scores',
  {
    ip: inet('ip').primaryKey(),
    score: integer('score').notNull(),
    band: text('band').notNull(),
    /** [{name, value, normalized, weight, contribution, percent}] */
    features: jsonb('features').$type<unknown[]>().notNull(),
    openPorts: integer('open_ports').notNull(),
    computedAt: tstz('computed_at').notNull().defaultNow(),
  },
  (t) => [
    index('host_scores_score_idx').on(t.score),
    /** The overview's counts and bands (store/repos/overview.ts) as an index-only scan: the rows carry wide features. */
    index('host_scores_band_idx').on(t.band, t.score, t.openPorts),
  ],
);

export const hostScoresRelations = relations(hostScores, () => ({}));

export type HostScoreRow = typeof hostScores.$inferSelect;
