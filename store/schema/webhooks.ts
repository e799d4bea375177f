import { relations, sql } from 'drizzle-orm';
import { boolean, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';
import { reportDefinitions } from './report-definitions.ts';
import { webhookDeliveries } from './webhook-deliveries.ts';

/**
 * A webhook (id `hook_…`) receiving new observation events that match a query
 * (its own, or its report definition's), signed with HMAC-SHA256 of `secret`.
 */
export const webhooks = pgTable('webhooks', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  url: text('url').notNull(),
  secret: text('secret').notNull(),
  /** Saved query ('' = every event); ignored when reportId is set (the report's query applies). */
  query: text('query').notNull().default(''),
  reportId: text('report_id').references(() => reportDefinitions.id, { onDelete: 'cascade' }),
  eventTypes: text('event_types').array().notNull().default(sql`'{appeared,changed,reappeared}'::text[]`),
  enabled: boolean('enabled').notNull().default(true),
  /** Events created at or before this instant (and id <= cursorId) were already queued. */
  cursorAt: tstz('cursor_at').notNull().defaultNow(),
  cursorId: text('cursor_id').notNull().default(''),
  createdAt: tstz('created_at').notNull().defaultNow(),
}, (t) => [uniqueIndex('webhooks_name_key').on(t.name)]);

export const webhooksRelations = relations(webhooks, ({ one, many }) => ({
  report: one(reportDefinitions, { fields: [webhooks.reportId], references: [reportDefinitions.id] }),
  deliveries: many(webhookDeliveries),
}));

export type WebhookRow = typeof webhooks.$inferSelect;
export type NewWebhookRow = typeof webhooks.$inferInsert;
