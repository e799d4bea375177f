import fs from 'node:fs';
import path from 'node:path';
import * as tar from 'tar';
import type { PlumConfig } from '../core/config.ts';
import { PlumError } from '../core/errors.ts';
import { silentLogger, type Logger } from '../core/log.ts';
import { PLUM_VERSION } from '../core/version.ts';
import { secureHome, withPrivateUmask } from './home-permissions.ts';
import { MIGRATIONS_DIR, openStore, pgliteDir } from './index.ts';
import { acquireHomeLock } from './lock.ts';
import { assertNotNewer, readDatabaseSchema, readJournal, type DatabaseSchema } from './schema-version.ts';

/*
 * Backups of the embedded database: a gzip'd tar of $PLUM_HOME/db and a manifest.
 *
 * Consistent while another plum process (serve, scheduler, worker) holds the database: the backup opens
 * the store like any command, so it goes through the holder's socket, and copies the files inside one
 * transaction after a CHECKPOINT. The holder's socket gives a client in a transaction the single PGlite
 * backend exclusively (store/socket.ts), so nothing writes while the files are copied, and the checkpoint
 * has put every committed page on disk. The copy is what a clean shutdown would leave.
 *
 * Nothing is ever half-written: the archive is written beside its destination and renamed into place;
 * a restore unpacks, opens and migrates the database in a directory of its own inside the home, and only
 * then renames it to $PLUM_HOME/db.
 */

export const BACKUP_FORMAT = 'plum-backup/1';
const MANIFEST = 'plum-backup.json';

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  plumVersion: string;
  createdAt: string;
  schema: DatabaseSchema;
}

export interface BackupResult {
  file: string;
  bytes: number;
  schema: DatabaseSchema;
  /** Whether another plum process held the database (the copy went through its socket). */
  throughHolder: boolean;
}

function embeddedOnly(config: PlumConfig, what: string): void {
  if (!config.PLUM_DATABASE_URL) return;
  throw new PlumError('usage', `plum ${what} is for the embedded database; PLUM_DATABASE_URL names a PostgreSQL server`, {
    hint:
      what === 'backup'
        ? 'back a server up with `pg_dump --format=custom` (docs/operations.md)'
        : 'restore a server dump with `pg_restore` (docs/operations.md)',
  });
}

/** A private scratch directory inside the home (same file system as db/, so the final rename is atomic). */
const scratch = (home: string, kind: string) => fs.mkdtempSync(path.join(home, `.${kind}-`));

export async function backupEmbedded(config: PlumConfig, file: string, log: Logger = silentLogger): Promise<BackupResult> {
  embeddedOnly(config, 'backup');
  const dbDir = pgliteDir(config);
  if (!fs.existsSync(dbDir)) {
    throw new PlumError('not_found', `no embedded database at ${dbDir}`, { hint: 'set PLUM_HOME to the home to back up' });
  }
  const target = path.resolve(file);
  if (!fs.existsSync(path.dirname(target))) {
    throw new PlumError('not_found', `directory ${path.dirname(target)} does not exist`, { hint: 'create it or write the backup elsewhere' });
  }
  const store = await openStore(config, { log, lockWaitMs: 30_000 });
  const staging = scratch(config.home, 'backup');
  const partial = `${target}.partial-${process.pid}`;
  try {
    let schema: DatabaseSchema = { applied: 0, newest: 0 };
    await store.transaction(async (tx) => {
      await tx.query('checkpoint');
      schema = await readDatabaseSchema((text) => tx.query(text));
      fs.cpSync(dbDir, path.join(staging, 'db'), { recursive: true });
    });
    const manifest: BackupManifest = { format: BACKUP_FORMAT, plumVersion: PLUM_VERSION, createdAt: new Date().toISOString(), schema };
    fs.writeFileSync(path.join(staging, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    // The manifest first, so a restore can refuse an archive without unpacking the database.
    await withPrivateUmask(() => tar.create({ gzip: true, file: partial, cwd: staging, portable: true }, [MANIFEST, 'db']));
    fs.chmodSync(partial, 0o600);
    fs.renameSync(partial, target);
    log.debug({ file: target }, 'backup written');
    return { file: target, bytes: fs.statSync(target).size, schema, throughHolder: store.via === 'socket' };
  } finally {
    fs.rmSync(partial, { force: true });
    fs.rmSync(staging, { recursive: true, force: true });
    await store.close();
  }
}

/** The manifest of a backup archive, read without unpacking the rest. */
export async function readManifest(file: string): Promise<BackupManifest> {
  let text: string | undefined;
  try {
    await tar.list({
      file,
      filter: (p) => p === MANIFEST,
      onReadEntry: (entry) => {
        const chunks: Buffer[] = [];
        entry.on('data', (c: Buffer) => chunks.push(c));
        entry.on('end', () => (text = Buffer.concat(chunks).toString('utf8')));
      },
    });
  } catch (e) {
    throw new PlumError('invalid_input', `${file} is not a Plum backup: ${(e as Error).message}`, { hint: 'give a file written by `plum backup`' });
  }
  let manifest: BackupManifest | undefined;
  try {
    manifest = text === undefined ? undefined : (JSON.parse(text) as BackupManifest);
  } catch {
    manifest = undefined;
  }
  if (manifest?.format !== BACKUP_FORMAT) {
    throw new PlumError('invalid_input', `${file} is not a Plum backup (no ${MANIFEST} of format ${BACKUP_FORMAT})`, {
      hint: 'give a file written by `plum backup`',
    });
  }
  return manifest;
}

export interface RestoreResult {
  schema: DatabaseSchema;
  /** Migrations applied on top of the backup's schema. */
  migrated: number;
  /** Where the database that was replaced was kept (with --force). */
  replacedKeptAt?: string;
}

export async function restoreEmbedded(config: PlumConfig, file: string, opts: { force?: boolean; log?: Logger } = {}): Promise<RestoreResult> {
  embeddedOnly(config, 'restore');
  const log = opts.log ?? silentLogger;
  const source = path.resolve(file);
  if (!fs.existsSync(source)) throw new PlumError('not_found', `no such file: ${source}`, { hint: 'give the path of a file written by `plum backup`' });
  const manifest = await readManifest(source);
  const journal = readJournal(MIGRATIONS_DIR);
  assertNotNewer(manifest.schema, journal, `the backup ${source}`);
  const dbDir = pgliteDir(config);
  if (fs.existsSync(dbDir) && !opts.force) {
    throw new PlumError('conflict', `${config.home} already has a database`, {
      hint: 'restore into a new PLUM_HOME, or pass --force to replace it; the current one is kept as db.replaced-TIME',
    });
  }
  fs.mkdirSync(config.home, { recursive: true, mode: 0o700 });
  secureHome(config.home);
  // No plum process may hold the home while its database is swapped: wait for none, go through no socket.
  const lock = await acquireHomeLock(config.home, { waitMs: 0, useSocket: false });
  const staging = scratch(config.home, 'restore');
  try {
    await tar.extract({ file: source, cwd: staging, strict: true, filter: (p) => p === MANIFEST || p === 'db' || p.startsWith('db/') });
    if (!fs.existsSync(path.join(staging, 'db', 'PG_VERSION'))) {
      throw new PlumError('invalid_input', `${source} holds no database`, { hint: 'give a file written by `plum backup`' });
    }
    // Opened and migrated where it lies: a backup that does not open never replaces anything.
    const restored = await openStore({ ...config, home: staging }, { log, useHolderSocket: false, lockWaitMs: 0 });
    let after: DatabaseSchema;
    try {
      after = await readDatabaseSchema((text) => restored.query(text));
    } finally {
      await restored.close();
    }
    let replacedKeptAt: string | undefined;
    if (fs.existsSync(dbDir)) {
      replacedKeptAt = `${dbDir}.replaced-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      fs.renameSync(dbDir, replacedKeptAt);
    }
    fs.renameSync(path.join(staging, 'db'), dbDir);
    secureHome(config.home);
    return { schema: manifest.schema, migrated: after.applied - manifest.schema.applied, ...(replacedKeptAt ? { replacedKeptAt } : {}) };
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
    lock.release();
  }
}
