import { relations, sql } from 'drizzle-orm';
import { index, integer, jsonb, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { bytea, tstz } from './columns.ts';
import { rawResults } from './raw-results.ts';
import { runs } from './runs.ts';

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'partial'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** One chunk of a run: the scope actually scanned (id `job_…`). */
export const jobs = pgTable(
  'jobs',
  {
    id: text('id').primaryKey(),
    runId: text('run_id')
      .notNull()
      .references(() => runs.id, { onDelete: 'cascade' }),
    index: integer('index').notNull(),
    targets: text('targets')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    addressCount: integer('address_count').notNull().default(0),
    tcpPorts: text('tcp_ports').notNull().default(''),
    udpPorts: text('udp_ports'),
    scripts: text('scripts')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    nmapArgs: text('nmap_args')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** `scout`: a masscan sweep of a two-stage profile's run; `scan`: an nmap job (workflows/logic/scan-run.ts). */
    stage: text('stage', { enum: ['scout', 'scan'] })
      .notNull()
      .default('scan'),
    status: text('status', { enum: JOB_STATUSES }).notNull().default('queued'),
    attempts: integer('attempts').notNull().default(0),
    agent: text('agent'),
    startedAt: tstz('started_at'),
    finishedAt: tstz('finished_at'),
    /** Set once the job's result is stored; a second ingest of the same result is a no-op. */
    ingestedAt: tstz('ingested_at'),
    /** SHA-256 of the raw XML that was ingested. */
    resultSha256: text('result_sha256'),
    error: text('error'),
    /**
     * Distributed mode: the task token of the nmap activity attempt the legacy bridge holds for this job
     * (workers/legacy-bridge.ts). It completes that activity for whoever has it, so it never leaves the
     * database: no API answer, getjob answer or log line carries it.
     */
    legacyTaskToken: bytea('legacy_task_token'),
    /** The Temporal attempt whose token is stored: a later attempt resets the claim, an older one changes nothing. */
    legacyAttempt: integer('legacy_attempt'),
    progress: jsonb('progress').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: tstz('created_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('jobs_run_index_key').on(t.runId, t.index), index('jobs_status_idx').on(t.status)],
);

export const jobsRelations = relations(jobs, ({ one }) => ({
  run: one(runs, { fields: [jobs.runId], references: [runs.id] }),
  raw: one(rawResults, { fields: [jobs.id], references: [rawResults.jobId] }),
}));

export type JobRow = typeof jobs.$inferSelect;
export type NewJobRow = typeof jobs.$inferInsert;
