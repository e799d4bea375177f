import { jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';

/**
 * The weighted round-robin's state for jobs handed to the predecessor's agents
 * (core/bot-api/round-robin.ts): one row, updated in the transaction that
 * claims a job, so it survives restarts and is shared by every server process.
 */
export const legacyDispatch = pgTable('legacy_dispatch', {
  id: text('id').primaryKey(),
  weights: jsonb('weights').$type<Record<string, number>>().notNull().default({}),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
});
