import { relations } from 'drizzle-orm';
import { pgTable, text } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';
import { runs } from './runs.ts';
import { scanProfiles } from './scan-profiles.ts';

/**
 * The embedded scheduler's memory, one row per profile: the last cycle slot it
 * claimed and the run started for it. A slot is claimed (compare-and-set on
 * `last_scheduled_for`) before its run starts, and the run's workflow id is
 * derived from the slot, so after a restart the scheduler resumes that run
 * instead of skipping it or starting it twice.
 */
export const scheduleState = pgTable('schedule_state', {
  profileId: text('profile_id')
    .primaryKey()
    .references(() => scanProfiles.id, { onDelete: 'cascade' }),
  /** Scheduled time of the last claimed slot. */
  lastScheduledFor: tstz('last_scheduled_for'),
  /** `profile:<name>:<scheduled time>` of that slot. */
  lastWorkflowId: text('last_workflow_id'),
  lastRunId: text('last_run_id').references(() => runs.id, { onDelete: 'set null' }),
  /** Slots skipped because the scheduler was down longer than the catch-up window. */
  skippedSlots: text('skipped_slots').array(),
  updatedAt: tstz('updated_at').notNull().defaultNow(),
});

export const scheduleStateRelations = relations(scheduleState, ({ one }) => ({
  profile: one(scanProfiles, { fields: [scheduleState.profileId], references: [scanProfiles.id] }),
  run: one(runs, { fields: [scheduleState.lastRunId], references: [runs.id] }),
}));

export type ScheduleStateRow = typeof scheduleState.$inferSelect;
