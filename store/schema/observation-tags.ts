import { relations, sql } from 'drizzle-orm';
import { index, pgTable, text } from 'drizzle-orm/pg-core';
import { portObservations } from './port-observations.ts';

/**
 * The tags of each tagged port observation (same `id`), where search's `tag:` terms find them (issue 26).
 *
 * Why a separate table: `port_observations.tags` stays the column every writer and reader uses, but its
 * GIN indexes live here. With them on the wide row, re-tagging a document could not be a HOT update and
 * wrote a new entry into every one of that table's indexes (full text, trigram, jsonb); here it touches
 * one narrow row and its two tag indexes. A trigger on port_observations (migration 0028) keeps this
 * table in step: a row per observation whose tags are not empty, none for an untagged one.
 */
export const observationTags = pgTable(
  'observation_tags',
  {
    id: text('id')
      .primaryKey()
      .references(() => portObservations.id, { onDelete: 'cascade' }),
    tags: text('tags').array().notNull(),
  },
  (t) => [
    index('observation_tags_tags_idx').using('gin', t.tags),
    // tag.bg:/tag.lk: terms: a regular expression over plum_tags_text (migration 0004), narrowed by trigrams.
    index('observation_tags_tags_text_idx').using('gin', sql`plum_tags_text(${t.tags}) gin_trgm_ops`),
  ],
);

export const observationTagsRelations = relations(observationTags, ({ one }) => ({
  observation: one(portObservations, { fields: [observationTags.id], references: [portObservations.id] }),
}));

export type ObservationTagsRow = typeof observationTags.$inferSelect;
