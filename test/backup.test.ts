import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import { openStore } from '../store/index.ts';
import { runPlum } from './helpers/cli.ts';
import { TEST_PG_ADMIN_URL } from './helpers/db.ts';
import { startServe, type ServeProcess } from './helpers/serve.ts';

/*
 * `plum backup` / `plum restore` of the embedded database, through the real CLI, with a real `plum serve`
 * holding the database while the backup is taken and ingests write to it.
 */

const FIXTURES = path.join(import.meta.dirname, 'fixtures', 'nmap');
const CIRCL = path.join(FIXTURES, 'circl.xml');
const SECOND = path.join(FIXTURES, 'libnmap-2_hosts_version.xml');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-backup-'));
const homeA = path.join(tmp, 'a');
const envA = { PLUM_HOME: homeA, PLUM_DATABASE_URL: '' };
let serve: ServeProcess | undefined;

async function countObservations(home: string): Promise<{ observations: number; migrations: number }> {
  const store = await openStore(loadConfig({ PLUM_HOME: home }), { useHolderSocket: false, lockWaitMs: 0 });
  try {
    const [o] = await store.query<{ n: number }>('select count(*)::int as n from port_observations');
    const [m] = await store.query<{ n: number }>('select count(*)::int as n from drizzle.__drizzle_migrations');
    return { observations: o!.n, migrations: m!.n };
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  expect((await runPlum(['init'], envA)).code).toBe(0);
  expect((await runPlum(['ingest', CIRCL], envA)).code).toBe(0);
  serve = await startServe(envA);
}, 120_000);

afterAll(async () => {
  await serve?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('plum backup / restore (embedded)', () => {
  const file = path.join(tmp, 'a.plum-backup.tgz');

  it('a backup taken while serve holds the database and an ingest writes restores to a consistent database', async () => {
    const [ingest, backup] = await Promise.all([runPlum(['ingest', SECOND], envA), runPlum(['backup', file], envA)]);
    expect(ingest.code, ingest.stderr).toBe(0);
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stderr).toMatch(/through the running plum process/);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(tmp).filter((f) => f.includes('.partial-'))).toEqual([]);
    expect(fs.readdirSync(homeA).filter((f) => f.startsWith('.backup-'))).toEqual([]);

    const homeB = path.join(tmp, 'b');
    const restore = await runPlum(['restore', file], { PLUM_HOME: homeB, PLUM_DATABASE_URL: '' });
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stderr).toMatch(/restored .* into .*\/b \(schema \d+\)/);
    const restored = await countObservations(homeB);
    // The CIRCL import was committed before the backup; the second one may or may not have been.
    const search = await runPlum(['search', '--format', 'json', 'port:80'], { PLUM_HOME: homeB, PLUM_DATABASE_URL: '' });
    expect(search.code, search.stderr).toBe(0);
    await serve!.stop();
    serve = undefined;
    const source = await countObservations(homeA);
    expect(restored.migrations).toBe(source.migrations);
    expect(restored.observations).toBeGreaterThan(0);
    expect(restored.observations).toBeLessThanOrEqual(source.observations);
    // A second backup with nobody holding the database copies it in-process: the same rows as the source.
    const again = path.join(tmp, 'again.tgz');
    const direct = await runPlum(['backup', again], envA);
    expect(direct.code, direct.stderr).toBe(0);
    expect(direct.stderr).not.toMatch(/through the running plum process/);
    const homeC = path.join(tmp, 'c');
    expect((await runPlum(['restore', again], { PLUM_HOME: homeC, PLUM_DATABASE_URL: '' })).code).toBe(0);
    expect(await countObservations(homeC)).toEqual(source);
    serve = await startServe(envA);
  }, 240_000);

  it('restore refuses a home in use, and an existing database without --force', async () => {
    const inUse = await runPlum(['restore', file, '--force'], envA);
    expect(inUse.code).not.toBe(0);
    expect(inUse.stderr.trim().split('\n')).toHaveLength(1);
    expect(inUse.stderr).toMatch(/is in use by plum process \d+ \(plum serve/);
    expect(fs.readdirSync(homeA).filter((f) => f.startsWith('.restore-') || f.startsWith('db.replaced'))).toEqual([]);
    await serve!.stop();
    serve = undefined;

    const exists = await runPlum(['restore', file], envA);
    expect(exists.code).not.toBe(0);
    expect(exists.stderr).toMatch(/already has a database \(.*--force/);
    const forced = await runPlum(['restore', file, '--force'], envA);
    expect(forced.code, forced.stderr).toBe(0);
    const kept = fs.readdirSync(homeA).filter((f) => f.startsWith('db.replaced-'));
    expect(kept).toHaveLength(1);
    expect(forced.stderr).toContain(kept[0]);
    expect(fs.readdirSync(homeA).filter((f) => f.startsWith('.restore-'))).toEqual([]);
    expect((await countObservations(homeA)).observations).toBeGreaterThan(0);
  }, 240_000);

  it('bad input: one line saying what to do, nothing written', async () => {
    const notBackup = path.join(tmp, 'not-a-backup.tgz');
    fs.writeFileSync(notBackup, 'hello');
    const homeD = path.join(tmp, 'd');
    const envD = { PLUM_HOME: homeD, PLUM_DATABASE_URL: '' };
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['restore', notBackup], envD, /is not a Plum backup/],
      [['restore', path.join(tmp, 'missing.tgz')], envD, /no such file/],
      [['backup', path.join(tmp, 'x.tgz')], envD, /no embedded database/],
      [['backup', path.join(tmp, 'no-dir', 'x.tgz')], envA, /does not exist/],
      [['backup', path.join(tmp, 'x.tgz')], { PLUM_HOME: homeD, PLUM_DATABASE_URL: TEST_PG_ADMIN_URL }, /PostgreSQL server.*pg_dump/],
      [['restore', file], { PLUM_HOME: homeD, PLUM_DATABASE_URL: TEST_PG_ADMIN_URL }, /PostgreSQL server.*pg_restore/],
    ];
    for (const [args, env, message] of cases) {
      const r = await runPlum(args, env);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).not.toBe(0);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    expect(fs.existsSync(path.join(homeD, 'db'))).toBe(false);
    expect(fs.existsSync(path.join(tmp, 'x.tgz'))).toBe(false);
  }, 120_000);
});
