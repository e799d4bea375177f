import fs from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { sql, SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import type { PlumConfig } from '../core/config.ts';
import { PlumError } from '../core/errors.ts';
import { silentLogger, type Logger } from '../core/log.ts';
import { secureHome, withPrivateUmask } from './home-permissions.ts';
import { acquireHomeLock, type HomeLock } from './lock.ts';
import { normaliseRows } from './rows.ts';
import { shareStore } from './socket.ts';
import { assertNotNewer, readDatabaseSchema, readJournal, type RunSql } from './schema-version.ts';
import * as schema from './schema/index.ts';
import { projectPath } from '../core/project-root.ts';

export { schema };
export type StoreKind = 'pglite' | 'postgres';
export type PlumDb = PgDatabase<PgQueryResultHKT, typeof schema>;

/** What `query` and `transaction` callbacks see: the drizzle handle and raw SQL returning plain rows. */
export interface StoreSession {
  kind: StoreKind;
  db: PlumDb;
  /**
   * Runs SQL and returns rows with the same shape on both drivers: timestamps as
   * Date, int8 as number, bytea as Buffer, json(b) parsed, arrays as arrays.
   * A string may use $1, $2… placeholders bound to `params`.
   */
  query<T = Record<string, unknown>>(q: SQL | string, params?: unknown[], opts?: QueryOptions): Promise<T[]>;
}

export interface QueryOptions {
  /**
   * The text is fixed and runs again and again (the ingest's statements, once per batch): on a PostgreSQL
   * server it is prepared once per connection, so later runs skip the round trip in which postgres.js asks the
   * server for the parameter types, and the server's parsing (the plan is still made per run with the run's
   * values unless the server prefers a generic one: plan_cache_mode). Never for text
   * built per call: every distinct text would stay prepared on its connection. Ignored by PGlite (one process,
   * no round trips) and through a holder's socket.
   */
  prepare?: boolean;
}

export interface Store extends StoreSession {
  /** Runs `fn` in one transaction; anything thrown rolls it back. */
  transaction<T>(fn: (tx: StoreSession) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /** PGlite only: how the database is reached (in-process, or through the holder's socket). */
  via: 'direct' | 'socket' | 'server';
  /** PGlite only: the in-process instance (for the socket server of long-running commands). */
  pglite?: PGlite;
  /** PGlite only: the lock held on $PLUM_HOME. */
  lock?: HomeLock;
  /**
   * Calls `onNotify` each time a transaction that sent a notification on `channel` commits, in this process
   * or another (LISTEN on a PostgreSQL server; in-process with PGlite, which also sees its socket clients'
   * commits). Absent through a holder's socket: such a process polls instead. Resolves with the unlisten.
   */
  listen?: (channel: string, onNotify: () => void) => Promise<() => Promise<void>>;
}

/** Sent by a trigger when observation events commit (store/migrations: plum_notify_events). */
export const EVENTS_CHANNEL = 'plum_events';

export interface OpenStoreOptions {
  log?: Logger;
  /**
   * PGlite: how long to wait for another plum process to release the embedded
   * database before giving up (ms). Default 5000.
   */
  lockWaitMs?: number;
  /** PGlite: reach a holder that shares its database over a socket instead of failing. Default true. */
  useHolderSocket?: boolean;
  /**
   * PGlite: share the database with other plum commands over $PLUM_HOME/plum.sock
   * for as long as this store is open (long-running commands: serve, scheduler, worker).
   */
  share?: boolean;
}

export const MIGRATIONS_DIR = projectPath('store', 'migrations');
/** Where the embedded database lives inside $PLUM_HOME. */
export const pgliteDir = (config: PlumConfig) => path.join(config.home, 'db');

/** Turns `text` with $1… placeholders into a drizzle SQL with bound params. */
export function toSql(q: SQL | string, params: unknown[] = []): SQL {
  if (typeof q !== 'string') return q;
  if (params.length === 0) return sql.raw(q);
  const parts = q.split(/\$(\d+)/);
  const chunks: SQL[] = [];
  for (let i = 0; i < parts.length; i++) {
    if (i % 2 === 0) {
      if (parts[i]) chunks.push(sql.raw(parts[i]!));
    } else {
      const n = Number(parts[i]);
      if (n < 1 || n > params.length) throw new PlumError('internal', `query placeholder $${n} has no parameter`);
      chunks.push(sql`${sql.param(params[n - 1])}`);
    }
  }
  return sql.join(chunks, sql.raw(''));
}

/** A PostgreSQL server connection pool, or one of its transactions: what runs prepared statements. */
type ServerClient = postgres.Sql | postgres.TransactionSql;

function session(kind: StoreKind, db: PlumDb, server?: ServerClient): StoreSession {
  return {
    kind,
    db,
    async query<T>(q: SQL | string, params?: unknown[], opts?: QueryOptions): Promise<T[]> {
      // Same parameters drizzle would send (sql.param values go to postgres.js unchanged), as a named statement.
      const result =
        server && opts?.prepare && typeof q === 'string'
          ? await server.unsafe(q, (params ?? []) as postgres.ParameterOrJSON<never>[], { prepare: true })
          : await db.execute(toSql(q, params));
      return normaliseRows(result) as T[];
    },
  };
}

/** The postgres.js transaction under a drizzle postgres-js transaction (drizzle keeps it as its session's client). */
const serverClientOf = (tx: unknown): ServerClient | undefined => (tx as { session?: { client?: ServerClient } }).session?.client;

function makeStore(kind: StoreKind, db: PlumDb, close: () => Promise<void>, extra: Partial<Store> = {}, server?: postgres.Sql): Store {
  const base = session(kind, db, server);
  let closed = false;
  return {
    ...base,
    via: 'direct',
    ...extra,
    // On a server, statements are prepared on the transaction's own connection: the postgres.js transaction
    // drizzle's transaction runs on (its session's client; without one, statements simply stay unprepared).
    transaction: (fn) => db.transaction((tx) => fn(session(kind, tx as unknown as PlumDb, server && serverClientOf(tx)))),
    async close() {
      if (closed) return;
      closed = true;
      await close();
    },
  };
}

function databaseError(e: unknown, where: string): PlumError {
  if (e instanceof PlumError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new PlumError('database', `cannot open the database (${where}): ${msg}`, {
    cause: e,
    hint: where.startsWith('postgres')
      ? 'check PLUM_DATABASE_URL and that the PostgreSQL server is running'
      : 'check that PLUM_HOME is writable; run `plum init` to create it',
  });
}

/** Refuses a database a newer Plum migrated (store/schema-version.ts); before migrating, which would not notice. */
async function refuseNewerSchema(run: RunSql, where: string): Promise<void> {
  assertNotNewer(await readDatabaseSchema(run), readJournal(MIGRATIONS_DIR), where);
}

/** Sorted, stable key for the migration advisory lock (two processes migrating at once wait for each other). */
const MIGRATION_LOCK_KEY = 7_245_310_991;

async function openPostgres(url: string, log: Logger): Promise<Store> {
  const redacted = url.replace(/\/\/[^@/]*@/, '//***@');
  // Migrate over one dedicated connection holding an advisory lock.
  const migrator = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await migrator`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    await refuseNewerSchema((text) => migrator.unsafe(text), `the PostgreSQL database ${redacted}`);
    await migratePostgres(drizzlePostgres(migrator, { schema }), { migrationsFolder: MIGRATIONS_DIR });
    await migrator`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
  } catch (e) {
    await migrator.end({ timeout: 1 }).catch(() => {});
    throw databaseError(e, `postgres ${redacted}`);
  }
  await migrator.end({ timeout: 5 });
  const client = postgres(url, { max: 8, onnotice: () => {}, connect_timeout: 10, types: { int8: INT8_AS_NUMBER } });
  const db = drizzlePostgres(client, { schema }) as unknown as PlumDb;
  log.debug({ url: redacted }, 'store opened (postgres)');
  // postgres.js keeps one extra connection for LISTEN and listens again after it reconnects.
  const listen = async (channel: string, onNotify: () => void) => {
    const { unlisten } = await client.listen(channel, () => onNotify());
    return unlisten;
  };
  return makeStore('postgres', db, () => client.end({ timeout: 5 }), { via: 'server', listen }, client);
}

/** int8 as a JS number: counts and sums stay far below 2^53. */
const INT8_AS_NUMBER = {
  to: 20,
  from: [20],
  serialize: (v: unknown) => String(v),
  parse: (v: string) => Number(v),
};

async function openPglite(config: PlumConfig, opts: OpenStoreOptions, log: Logger): Promise<Store> {
  const dir = pgliteDir(config);
  secureHome(config.home);
  const lock = await acquireHomeLock(config.home, { waitMs: opts.lockWaitMs ?? 5000, useSocket: opts.useHolderSocket ?? true });
  if (lock.kind === 'socket') {
    // Another plum process holds the database and shares it: talk to it as to a server.
    const client = postgres({
      path: lock.socketPath,
      max: 1,
      onnotice: () => {},
      connect_timeout: 10,
      types: { int8: INT8_AS_NUMBER },
      username: 'postgres',
      database: 'template1',
    });
    try {
      await refuseNewerSchema((text) => client.unsafe(text), `the embedded database in ${dir}`);
    } catch (e) {
      await client.end({ timeout: 1 }).catch(() => {});
      throw databaseError(e, `embedded ${dir} through plum process ${lock.holderPid}`);
    }
    const db = drizzlePostgres(client, { schema }) as unknown as PlumDb;
    log.debug({ holder: lock.holderPid }, 'store opened through the holder socket');
    return makeStore('pglite', db, () => client.end({ timeout: 5 }), { via: 'socket' });
  }
  let pg: PGlite | undefined;
  try {
    const db = await withPrivateUmask(async () => {
      pg = await PGlite.create(dir, { extensions: { pg_trgm }, parsers: { 20: (v: string) => Number(v) } });
      const instance = pg;
      await refuseNewerSchema(async (text) => (await instance.query<Record<string, unknown>>(text)).rows, `the embedded database in ${dir}`);
      const created = drizzlePglite(pg, { schema }) as unknown as PlumDb;
      await migratePglite(created as never, { migrationsFolder: MIGRATIONS_DIR });
      return created;
    });
    if (!pg) throw new Error('PGlite did not start');
    log.debug({ dir }, 'store opened (pglite)');
    const instance = pg;
    let shared: Awaited<ReturnType<typeof shareStore>>;
    const store = makeStore(
      'pglite',
      db,
      async () => {
        try {
          await shared?.close();
          await instance.close();
          // Files PGlite wrote while open (relation cache, new relations) get the home's modes too.
          secureHome(config.home);
        } finally {
          lock.release();
        }
      },
      {
        pglite: pg,
        lock,
        via: 'direct',
        listen: async (channel, onNotify) => {
          const unlisten = await instance.listen(channel, () => onNotify());
          return () => unlisten();
        },
      },
    );
    if (opts.share) shared = await shareStore(store, config.home, log);
    return store;
  } catch (e) {
    await pg?.close().catch(() => {});
    lock.release();
    throw databaseError(e, `embedded ${dir}`);
  }
}

/**
 * Opens the store: PostgreSQL when PLUM_DATABASE_URL is set, the embedded
 * PGlite database in $PLUM_HOME/db otherwise. Pending migrations are applied.
 */
export async function openStore(config: PlumConfig, opts: OpenStoreOptions = {}): Promise<Store> {
  const log = opts.log ?? silentLogger;
  if (config.PLUM_DATABASE_URL) return openPostgres(config.PLUM_DATABASE_URL, log);
  return openPglite(config, opts, log);
}
