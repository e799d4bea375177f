import { relations, sql } from 'drizzle-orm';
import { boolean, cidr, index, inet, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';

/** What may be scanned: an address, a CIDR, an address range or a name (id `tgt_…`). */
export const targets = pgTable(
  'targets',
  {
    id: text('id').primaryKey(),
    /** As the user wrote it (normalised: lowercase names, canonical CIDR). */
    value: text('value').notNull(),
    kind: text('kind', { enum: ['ip', 'cidr', 'range', 'fqdn'] }).notNull(),
    /** First and last address for ip/cidr/range targets, null for names. */
    rangeStart: inet('range_start'),
    rangeEnd: inet('range_end'),
    cidr: cidr('cidr'),
    labels: text('labels')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** An exclusion: never scanned, even when another target covers it. */
    exclude: boolean('exclude').notNull().default(false),
    note: text('note'),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('targets_value_key').on(t.value), index('targets_labels_idx').using('gin', t.labels)],
);

export const targetsRelations = relations(targets, () => ({}));

export type TargetRow = typeof targets.$inferSelect;
export type NewTargetRow = typeof targets.$inferInsert;
