import { relations, sql } from 'drizzle-orm';
import { bigint, boolean, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';
import { reportDefinitions } from './report-definitions.ts';
import { webhookDeliveries } from './webhook-deliveries.ts';

/**
 * A webhook (id `hook_…`) receiving new observation events that match a query
 * (its own, or its report definition's), signed with HMAC-SHA256 of `secret`.
 */
export const webhooks = pgTable(
  'webhooks',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    url: text('url').notNull(),
    secret: text('secret').notNull(),
    /** Saved query ('' = every event); ignored when reportId is set (the report's query applies). */
    query: text('query').notNull().default(''),
    reportId: text('report_id').references(() => reportDefinitions.id, { onDelete: 'cascade' }),
    eventTypes: text('event_types')
      .array()
      .notNull()
      .default(sql`'{appeared,changed,reappeared}'::text[]`),
    enabled: boolean('enabled').notNull().default(true),
    /** Superseded by cursorTx (kept so an older plum reading the table still works). */
    cursorAt: tstz('cursor_at').notNull().defaultNow(),
    /** Events at or before (cursorTx, cursorId), in observation_events (tx, id) order, were already queued. */
    cursorTx: bigint('cursor_tx', { mode: 'number' }).notNull().default(0),
    cursorId: text('cursor_id').notNull().default(''),
    /** The process sending this webhook's deliveries (one at a time, in order) and until when it holds that role. */
    senderId: text('sender_id'),
    senderUntil: tstz('sender_until'),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('webhooks_name_key').on(t.name)],
);

export const webhooksRelations = relations(webhooks, ({ one, many }) => ({
  report: one(reportDefinitions, { fields: [webhooks.reportId], references: [reportDefinitions.id] }),
  deliveries: many(webhookDeliveries),
}));

export type WebhookRow = typeof webhooks.$inferSelect;
export type NewWebhookRow = typeof webhooks.$inferInsert;
