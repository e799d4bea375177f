import { relations } from 'drizzle-orm';
import { pgTable, text } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';

/**
 * What `plum rules apply` last applied to the stored documents: one row per rule
 * (its content hash), plus `@facts` (favicon database) and `@score` (score
 * configuration). Comparing these with the current rules tells which rules must
 * run again: the apply is incremental.
 */
export const ruleApplications = pgTable('rule_applications', {
  name: text('name').primaryKey(),
  hash: text('hash').notNull(),
  appliedAt: tstz('applied_at').notNull().defaultNow(),
});

export const ruleApplicationsRelations = relations(ruleApplications, () => ({}));

export type RuleApplicationRow = typeof ruleApplications.$inferSelect;
