import { relations, sql } from 'drizzle-orm';
import { bigint, index, inet, integer, jsonb, pgTable, text } from 'drizzle-orm/pg-core';
import type { FieldDiff } from '../../core/history/diff.ts';
import { tstz } from './columns.ts';
import { portObservations } from './port-observations.ts';

export const EVENT_TYPES = ['appeared', 'changed', 'gone', 'reappeared'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The change feed (id `evt_…`): what appeared, changed, went away or came back, at scan time. */
export const observationEvents = pgTable(
  'observation_events',
  {
    id: text('id').primaryKey(),
    type: text('type', { enum: EVENT_TYPES }).notNull(),
    ip: inet('ip').notNull(),
    protocol: text('protocol').notNull(),
    port: integer('port').notNull(),
    at: tstz('at').notNull(),
    /** The fingerprint now (for gone: the one that went away). */
    hsh256: text('hsh256').notNull(),
    /** changed: the fingerprint replaced. */
    previousHsh256: text('previous_hsh256'),
    observationId: text('observation_id')
      .notNull()
      .references(() => portObservations.id, { onDelete: 'cascade' }),
    previousObservationId: text('previous_observation_id').references(() => portObservations.id, { onDelete: 'set null' }),
    /** changed: what changed, field by field, volatile values aside (core/history/diff.ts); null for other events. */
    changes: jsonb('changes').$type<FieldDiff[]>(),
    runId: text('run_id'),
    jobId: text('job_id'),
    createdAt: tstz('created_at').notNull().defaultNow(),
    /**
     * The id of the transaction that wrote the event. Webhook dispatch reads only
     * events of finished transactions (below the snapshot's xmin) in (tx, id)
     * order, so an ingest that commits after a later-started one is never skipped.
     */
    tx: bigint('tx', { mode: 'number' })
      .notNull()
      .default(sql`(pg_current_xact_id()::text)::bigint`),
  },
  (t) => [
    index('observation_events_at_idx').on(t.at),
    index('observation_events_ip_at_idx').on(t.ip, t.at),
    index('observation_events_type_at_idx').on(t.type, t.at),
    index('observation_events_observation_idx').on(t.observationId),
    index('observation_events_run_idx').on(t.runId),
    index('observation_events_tx_idx').on(t.tx, t.id),
  ],
);

export const observationEventsRelations = relations(observationEvents, ({ one }) => ({
  observation: one(portObservations, {
    fields: [observationEvents.observationId],
    references: [portObservations.id],
    relationName: 'eventObservation',
  }),
  previousObservation: one(portObservations, {
    fields: [observationEvents.previousObservationId],
    references: [portObservations.id],
  }),
}));

export type ObservationEventRow = typeof observationEvents.$inferSelect;
