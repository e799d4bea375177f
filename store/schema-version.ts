import fs from 'node:fs';
import path from 'node:path';
import { PlumError } from '../core/errors.ts';
import { PLUM_VERSION } from '../core/version.ts';
import type { StoreSession } from './index.ts';

/*
 * The schema version of a database is what drizzle's migrator records in drizzle.__drizzle_migrations:
 * one row per applied migration, whose created_at is the migration's `when` in store/migrations/meta/_journal.json.
 * The migrator applies the journal entries newer than the newest recorded one, and silently does nothing
 * for a database that a newer Plum migrated further: that binary would then run its queries against tables
 * it does not know. So every open compares first, and an older binary refuses a newer database.
 */

export interface JournalEntry {
  idx: number;
  when: number;
  tag: string;
}

/** The migrations this binary ships, in order. */
export function readJournal(migrationsDir: string): JournalEntry[] {
  const file = path.join(migrationsDir, 'meta', '_journal.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { entries: JournalEntry[] }).entries;
}

export interface DatabaseSchema {
  /** Migrations recorded as applied (0 for an empty database). */
  applied: number;
  /** created_at of the newest applied migration (its journal `when`), 0 for an empty database. */
  newest: number;
}

/** Anything that runs one SQL text and returns rows (a store session, postgres.js, PGlite). */
export type RunSql = (text: string) => Promise<Record<string, unknown>[]>;

export async function readDatabaseSchema(run: RunSql): Promise<DatabaseSchema> {
  const [exists] = await run("select to_regclass('drizzle.__drizzle_migrations') is not null as present");
  if (!exists?.present) return { applied: 0, newest: 0 };
  const [row] = await run('select count(*)::int as applied, coalesce(max(created_at), 0)::text as newest from drizzle.__drizzle_migrations');
  return { applied: Number(row?.applied ?? 0), newest: Number(row?.newest ?? 0) };
}

/** The schema version this binary writes: how many migrations it ships. */
export const binarySchemaVersion = (journal: JournalEntry[]) => journal.length;

/**
 * Throws a one-line error when `db` was migrated past the newest migration this binary ships
 * (by a newer Plum). Pure: the caller reads both sides.
 */
export function assertNotNewer(db: DatabaseSchema, journal: JournalEntry[], where: string): void {
  const newestKnown = journal.at(-1)?.when ?? 0;
  const unknown = db.newest > newestKnown || db.applied > journal.length;
  if (!unknown) return;
  throw new PlumError(
    'database',
    `${where} has schema version ${db.applied}, newer than this plum ${PLUM_VERSION} knows (${journal.length}): it was upgraded by a newer Plum`,
    {
      hint: 'run the newer plum (never downgrade a migrated database), or restore a backup taken before the upgrade',
      details: { databaseSchema: db.applied, binarySchema: journal.length },
    },
  );
}

/** How many migrations the database has applied (0 for an empty one). */
export async function appliedMigrationCount(store: StoreSession): Promise<number> {
  return (await readDatabaseSchema((text) => store.query(text))).applied;
}
