import { relations, sql } from 'drizzle-orm';
import { boolean, index, integer, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';
import { webhooks } from './webhooks.ts';

/**
 * A stored report (id `rep_…`): what to report on, how often, and where to
 * deliver it. Scheduled and preview runs both go through runReportDefinition.
 */
export const reportDefinitions = pgTable(
  'report_definitions',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    description: text('description'),
    /** Structured query ('' = everything). */
    query: text('query').notNull().default(''),
    /** Cadence, e.g. `7d`; the report period has the same length. */
    every: text('every').notNull(),
    /** Period length if different from the cadence (e.g. `30d` every `7d`). */
    period: text('period'),
    /** Recipients: `dir:PATH`, `webhook:URL`, `mailto:ADDR`. */
    destinations: text('destinations')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** Max hosts listed in the hosts section (0 = all). */
    hostLimit: integer('host_limit').notNull().default(0),
    enabled: boolean('enabled').notNull().default(true),
    lastRunAt: tstz('last_run_at'),
    nextRunAt: tstz('next_run_at'),
    lastStatus: text('last_status'),
    lastError: text('last_error'),
    createdAt: tstz('created_at').notNull().defaultNow(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('report_definitions_name_key').on(t.name), index('report_definitions_next_run_idx').on(t.nextRunAt)],
);

export const reportDefinitionsRelations = relations(reportDefinitions, ({ many }) => ({
  webhooks: many(webhooks),
}));

export type ReportDefinitionRow = typeof reportDefinitions.$inferSelect;
export type NewReportDefinitionRow = typeof reportDefinitions.$inferInsert;
