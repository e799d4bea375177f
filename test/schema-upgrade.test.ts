import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import { getHostView } from '../store/repos/observations.ts';
import { MIGRATIONS_DIR, openStore, type Store } from '../store/index.ts';
import { readJournal } from '../store/schema-version.ts';
import { runPlum } from './helpers/cli.ts';
import { cliEnvOf, makeTestConfig, openTestStore, storeKinds, TEST_PG_ADMIN_URL } from './helpers/db.ts';

/*
 * Upgrades: a database left at every earlier migration step, holding data written at the step where the
 * tables appeared, opens with this binary (which migrates it on open, as every command and `plum serve`
 * do) and still shows that data. And the other way round: a database a newer Plum migrated is refused.
 */

const journal = readJournal(MIGRATIONS_DIR);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-upgrade-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A migrations folder holding only the first `k` migrations of this binary's journal. */
function migrationsUpTo(k: number): string {
  const dir = path.join(tmp, `migrations-${k}`);
  if (fs.existsSync(dir)) return dir;
  fs.mkdirSync(path.join(dir, 'meta'), { recursive: true });
  for (const e of journal.slice(0, k)) fs.copyFileSync(path.join(MIGRATIONS_DIR, `${e.tag}.sql`), path.join(dir, `${e.tag}.sql`));
  const full = JSON.parse(fs.readFileSync(path.join(MIGRATIONS_DIR, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] };
  fs.writeFileSync(path.join(dir, 'meta', '_journal.json'), JSON.stringify({ ...full, entries: full.entries.slice(0, k) }));
  return dir;
}

/** Written with the columns of 0001_store_schema, the oldest schema holding tables. */
const DATA_AT_FIRST_SCHEMA = [
  "insert into targets (id, value, kind, cidr) values ('tgt_upgrade', '127.0.0.0/30', 'cidr', '127.0.0.0/30')",
  "insert into scan_profiles (id, name, tcp_ports) values ('prof_upgrade', 'upgrade', '80')",
  `insert into runs (id, kind, profile_id, profile_name, status, started_at, finished_at)
     values ('run_upgrade', 'profile', 'prof_upgrade', 'upgrade', 'succeeded', now() - interval '1 hour', now())`,
  `insert into jobs (id, run_id, index, targets, address_count, tcp_ports, status)
     values ('job_upgrade', 'run_upgrade', 0, '{127.0.0.1}', 1, '80', 'succeeded')`,
  `insert into port_observations (id, ip, protocol, port, hsh256, fp_version, first_seen, last_seen, last_run_id, last_job_id,
       checked_at, state_changed_at, doc, fields)
     values ('obs_upgrade', '127.0.0.1', 'tcp', 80, 'hsh_upgrade', 1, now() - interval '1 hour', now(), 'run_upgrade', 'job_upgrade',
       now(), now() - interval '1 hour', '{"ip":"127.0.0.1","port":80,"protocol":"tcp","service":{"name":"http"}}',
       '{"service":"http","port":80}')`,
  `insert into observation_events (id, type, ip, protocol, port, at, hsh256, observation_id, run_id, job_id)
     values ('evt_upgrade', 'appeared', '127.0.0.1', 'tcp', 80, now() - interval '1 hour', 'hsh_upgrade', 'obs_upgrade', 'run_upgrade', 'job_upgrade')`,
];
/** The step after which DATA_AT_FIRST_SCHEMA is written: once 0001_store_schema is applied. */
const DATA_STEP = journal.findIndex((e) => e.tag.endsWith('_store_schema')) + 1;

async function expectUpgraded(store: Store): Promise<void> {
  const [m] = await store.query<{ n: number }>('select count(*)::int as n from drizzle.__drizzle_migrations');
  expect(m!.n).toBe(journal.length);
  const host = await getHostView(store, '127.0.0.1');
  expect(host?.services.map((s) => s.port)).toEqual([80]);
  expect(host?.events?.map((e) => e.type)).toEqual(['appeared']);
  const [run] = await store.query<{ status: string }>("select status from runs where id = 'run_upgrade'");
  expect(run?.status).toBe('succeeded');
}

describe('migrations run on open from every earlier schema, with data', () => {
  it('pglite', async () => {
    const work = path.join(tmp, 'pglite-work');
    const pg = await PGlite.create(work, { extensions: { pg_trgm } });
    try {
      for (let k = 1; k < journal.length; k++) {
        await migratePglite(drizzlePglite(pg) as never, { migrationsFolder: migrationsUpTo(k) });
        if (k === DATA_STEP) for (const q of DATA_AT_FIRST_SCHEMA) await pg.exec(q);
        // A home whose database stopped at step k: a copy of the work database with nothing writing.
        await pg.exec('checkpoint');
        const home = path.join(tmp, `pglite-${k}`);
        fs.cpSync(work, path.join(home, 'db'), { recursive: true });
        const store = await openStore(loadConfig({ PLUM_HOME: home }));
        try {
          if (k >= DATA_STEP) await expectUpgraded(store);
          else expect((await store.query<{ n: number }>('select count(*)::int as n from drizzle.__drizzle_migrations'))[0]!.n).toBe(journal.length);
        } finally {
          await store.close();
          fs.rmSync(home, { recursive: true, force: true });
        }
      }
    } finally {
      await pg.close();
    }
  }, 600_000);

  it('postgres', async () => {
    const base = `plum_t_upgrade_${process.pid}`;
    const admin = postgres(TEST_PG_ADMIN_URL, { max: 1, onnotice: () => {} });
    const urlOf = (db: string) => Object.assign(new URL(TEST_PG_ADMIN_URL), { pathname: `/${db}` }).toString();
    const created: string[] = [];
    try {
      await admin.unsafe(`create database "${base}"`);
      created.push(base);
      for (let k = 1; k < journal.length; k++) {
        const work = postgres(urlOf(base), { max: 1, onnotice: () => {} });
        try {
          await migratePostgres(drizzlePostgres(work), { migrationsFolder: migrationsUpTo(k) });
          if (k === DATA_STEP) for (const q of DATA_AT_FIRST_SCHEMA) await work.unsafe(q);
        } finally {
          await work.end({ timeout: 5 });
        }
        const snapshot = `${base}_${k}`;
        await admin.unsafe(`create database "${snapshot}" template "${base}"`);
        created.push(snapshot);
        const store = await openStore(loadConfig({ PLUM_HOME: tmp, PLUM_DATABASE_URL: urlOf(snapshot) }));
        try {
          if (k >= DATA_STEP) await expectUpgraded(store);
          else expect((await store.query<{ n: number }>('select count(*)::int as n from drizzle.__drizzle_migrations'))[0]!.n).toBe(journal.length);
        } finally {
          await store.close();
        }
      }
    } finally {
      for (const db of created.reverse()) await admin.unsafe(`drop database if exists "${db}" with (force)`);
      await admin.end({ timeout: 5 });
    }
  }, 600_000);
});

describe.each(storeKinds)('a database a newer Plum migrated (%s)', (kind) => {
  it('is refused by this binary, with one line saying what to do, and left as it was', async () => {
    const t = await openTestStore(kind);
    const future = journal.at(-1)!.when + 86_400_000;
    await t.store.query(`insert into drizzle.__drizzle_migrations (hash, created_at) values ('from-a-newer-plum', ${future})`);
    await t.store.close();
    try {
      await expect(openStore(t.config)).rejects.toThrow(
        new RegExp(`schema version ${journal.length + 1}, newer than this plum .* knows \\(${journal.length}\\)`),
      );
      const r = await runPlum(['runs'], cliEnvOf(t.config));
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(/upgraded by a newer Plum .*run the newer plum/);
    } finally {
      await t.cleanup();
    }
    // A database at this binary's own version opens (the check is not a false alarm).
    const { config, drop } = await makeTestConfig(kind);
    try {
      const store = await openStore(config);
      await store.close();
      await (await openStore(config)).close();
    } finally {
      await drop();
    }
  }, 120_000);
});
