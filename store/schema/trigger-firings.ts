import { relations } from 'drizzle-orm';
import { index, inet, integer, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';
import { runs } from './runs.ts';
import { scanProfiles } from './scan-profiles.ts';

export const FIRING_STATUSES = ['pending', 'claimed', 'out_of_scope', 'failed'] as const;
export type FiringStatus = (typeof FIRING_STATUSES)[number];

/**
 * One finding that matched a trigger profile's query (id `fire_…`): recorded in the transaction of the ingest
 * batch that made the observation new (store/triggers.ts), then claimed into a run of the profile
 * (workers/trigger-dispatcher.ts). Unique per profile and fingerprint: a fingerprint fires a profile once.
 */
export const triggerFirings = pgTable(
  'trigger_firings',
  {
    id: text('id').primaryKey(),
    profileId: text('profile_id')
      .notNull()
      .references(() => scanProfiles.id, { onDelete: 'cascade' }),
    ip: inet('ip').notNull(),
    protocol: text('protocol').notNull(),
    port: integer('port').notNull(),
    hsh256: text('hsh256').notNull(),
    /** The observation (`obs_…`) whose appearance or change matched; no foreign key: the firing outlives its pruning. */
    observationId: text('observation_id').notNull(),
    /** The profile's trigger query when it fired. */
    query: text('query').notNull(),
    /**
     * `pending` (waiting for the dispatcher or the rate limit), `claimed` (given to a run), `out_of_scope` (the scope
     * guard refused its address: never scanned), `failed` (its run could not start: `error` says why).
     */
    status: text('status', { enum: FIRING_STATUSES }).notNull().default('pending'),
    firedAt: tstz('fired_at').notNull().defaultNow(),
    claimedAt: tstz('claimed_at'),
    /** Set once the claim's run was started (embedded runner or Temporal): a claim without it is started again. */
    dispatchedAt: tstz('dispatched_at'),
    error: text('error'),
    /** `trigger:<profile>:<first firing id>`: the run that scans this firing, one per claim. */
    workflowId: text('workflow_id'),
    runId: text('run_id').references(() => runs.id, { onDelete: 'set null' }),
  },
  (t) => [
    uniqueIndex('trigger_firings_fingerprint_key').on(t.profileId, t.ip, t.protocol, t.port, t.hsh256),
    index('trigger_firings_status_idx').on(t.profileId, t.status, t.firedAt),
    index('trigger_firings_workflow_idx').on(t.workflowId),
  ],
);

export const triggerFiringsRelations = relations(triggerFirings, ({ one }) => ({
  profile: one(scanProfiles, { fields: [triggerFirings.profileId], references: [scanProfiles.id] }),
  run: one(runs, { fields: [triggerFirings.runId], references: [runs.id] }),
}));

export type TriggerFiringRow = typeof triggerFirings.$inferSelect;
