import { relations, sql } from 'drizzle-orm';
import { boolean, index, jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';
import { jobs } from './jobs.ts';
import { scanProfiles } from './scan-profiles.ts';

export const RUN_KINDS = ['profile', 'investigation', 'import', 'trigger'] as const;
export const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'partial'] as const;
export type RunKind = (typeof RUN_KINDS)[number];
export type RunStatus = (typeof RUN_STATUSES)[number];

/** One execution of a profile, of an urgent investigation, or one file import (id `run_…`). */
export const runs = pgTable(
  'runs',
  {
    id: text('id').primaryKey(),
    kind: text('kind', { enum: RUN_KINDS }).notNull(),
    profileId: text('profile_id').references(() => scanProfiles.id, { onDelete: 'set null' }),
    /** Snapshot of the profile name: stays readable when the profile is renamed or deleted. */
    profileName: text('profile_name'),
    requestedBy: text('requested_by'),
    /** Investigations and imports: what was asked for. */
    targets: text('targets')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    reason: text('reason'),
    scheduledFor: tstz('scheduled_for'),
    startedAt: tstz('started_at'),
    finishedAt: tstz('finished_at'),
    status: text('status', { enum: RUN_STATUSES }).notNull().default('queued'),
    scopeOverride: boolean('scope_override').notNull().default(false),
    scopeOverrideReason: text('scope_override_reason'),
    counters: jsonb('counters').$type<Record<string, number>>().notNull().default({}),
    progress: jsonb('progress').$type<Record<string, unknown>>().notNull().default({}),
    /** Temporal workflow id when run by Temporal. */
    workflowId: text('workflow_id'),
    error: text('error'),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [index('runs_profile_idx').on(t.profileId, t.createdAt), index('runs_status_idx').on(t.status), index('runs_created_idx').on(t.createdAt)],
);

export const runsRelations = relations(runs, ({ one, many }) => ({
  profile: one(scanProfiles, { fields: [runs.profileId], references: [scanProfiles.id] }),
  jobs: many(jobs),
}));

export type RunRow = typeof runs.$inferSelect;
export type NewRunRow = typeof runs.$inferInsert;
