import { relations, sql } from 'drizzle-orm';
import { boolean, jsonb, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';

/** Tagging rules as imported from rules/*.yaml (id `rule_…`). */
export const rules = pgTable(
  'rules',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    description: text('description'),
    /** Structured query (the search syntax, without since:). */
    query: text('query').notNull(),
    tags: text('tags')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** Newer versions replace older ones on import. */
    version: text('version').notNull(),
    /** File it came from, when imported from disk. */
    source: text('source'),
    enabled: boolean('enabled').notNull().default(true),
    /** info|low|medium|high|critical (core/rules/schema.ts). */
    severity: text('severity'),
    references: text('references')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** The rule's test documents: { match: [...], no_match: [...] }. */
    tests: jsonb('tests').$type<{ match: unknown[]; no_match: unknown[] }>(),
    /** SHA-256 of what decides the rule's effect (query, tags, enabled): compared by `plum rules apply`. */
    hash: text('hash').notNull().default(''),
    createdAt: tstz('created_at').notNull().defaultNow(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('rules_name_key').on(t.name)],
);

export const rulesRelations = relations(rules, () => ({}));

export type RuleRow = typeof rules.$inferSelect;
