import { relations } from 'drizzle-orm';
import { index, integer, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { bytea, tstz } from './columns.ts';
import { jobs } from './jobs.ts';
import { runs } from './runs.ts';

/** Gzip'd nmap XML of a job, kept so results can be re-ingested with a newer parser (id `raw_…`). */
export const rawResults = pgTable(
  'raw_results',
  {
    id: text('id').primaryKey(),
    jobId: text('job_id').references(() => jobs.id, { onDelete: 'set null' }),
    runId: text('run_id').references(() => runs.id, { onDelete: 'cascade' }),
    /** SHA-256 of the uncompressed XML. */
    sha256: text('sha256').notNull(),
    /** Uncompressed size in bytes. */
    size: integer('size').notNull(),
    xmlGz: bytea('xml_gz').notNull(),
    parserVersion: integer('parser_version').notNull().default(1),
    /** Parse error (truncated or invalid XML) when only part of it was usable. */
    error: text('error'),
    createdAt: tstz('created_at').notNull().defaultNow(),
    /** Null: kept forever. */
    expiresAt: tstz('expires_at'),
  },
  (t) => [uniqueIndex('raw_results_job_key').on(t.jobId), index('raw_results_sha256_idx').on(t.sha256), index('raw_results_expires_idx').on(t.expiresAt)],
);

export const rawResultsRelations = relations(rawResults, ({ one }) => ({
  job: one(jobs, { fields: [rawResults.jobId], references: [jobs.id] }),
  run: one(runs, { fields: [rawResults.runId], references: [runs.id] }),
}));

export type RawResultRow = typeof rawResults.$inferSelect;
