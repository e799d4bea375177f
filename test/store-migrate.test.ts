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
import { afterEach, describe, expect, it } from 'vitest';
import { UNKNOWN_VIEW, viewOfJob } from '../core/history/view.ts';
import { MIGRATIONS_DIR, openStore, pgliteDir } from '../store/index.ts';
import { makeTestConfig, storeKinds } from './helpers/db.ts';

/** A copy of the migrations folder that stops after the first `n` migrations (an older Plum). */
function olderMigrations(n: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-mig-'));
  const journal = JSON.parse(fs.readFileSync(path.join(MIGRATIONS_DIR, 'meta', '_journal.json'), 'utf8'));
  journal.entries = journal.entries.slice(0, n);
  fs.mkdirSync(path.join(dir, 'meta'));
  fs.writeFileSync(path.join(dir, 'meta', '_journal.json'), JSON.stringify(journal));
  for (const e of journal.entries) fs.copyFileSync(path.join(MIGRATIONS_DIR, `${e.tag}.sql`), path.join(dir, `${e.tag}.sql`));
  return dir;
}

// Data an old version wrote, using only columns of the first schema migration.
const OLD_DATA = [
  "insert into runs (id, kind, status) values ('run_old', 'import', 'succeeded')",
  "insert into jobs (id, run_id, index, tcp_ports) values ('job_old', 'run_old', 0, '22')",
  `insert into port_observations (id, ip, protocol, port, hsh256, fp_version, first_seen, last_seen, checked_at, state_changed_at, doc, fields)
   values ('obs_old', '127.9.0.1', 'tcp', 22, 'aa', 1, '2025-01-01T00:00:00Z', '2025-02-01T00:00:00Z', '2025-02-01T00:00:00Z',
     '2025-01-01T00:00:00Z', '{"portid":"22","banner":"SSH-2.0-old"}', '{"banner":["SSH-2.0-old"],"port":["22"]}')`,
  `insert into observation_events (id, type, ip, protocol, port, at, hsh256, observation_id)
   values ('evt_old', 'appeared', '127.9.0.1', 'tcp', 22, '2025-01-01T00:00:00Z', 'aa', 'obs_old')`,
];

// Data of the version before views (migration 0021): a banner and a web fingerprint of one port, seen by
// profile jobs (the web one current), and a port seen only by an import.
const BEFORE_VIEWS = [
  "insert into runs (id, kind, status) values ('run_b', 'profile', 'succeeded'), ('run_w', 'profile', 'succeeded'), ('run_i', 'import', 'succeeded')",
  `insert into jobs (id, run_id, index, tcp_ports, scripts, nmap_args) values
     ('job_b', 'run_b', 0, '80', '{plum-banner}', '{}'), ('job_w', 'run_w', 0, '80', '{ssl-cert,http-title}', '{-sV,-T4}'),
     ('job_i', 'run_i', 0, '22', '{}', '{}')`,
  `insert into port_observations (id, ip, protocol, port, hsh256, fp_version, first_seen, state_changed_at, current, doc, fields) values
     ('obs_b', '127.9.0.2', 'tcp', 80, 'bb', 1, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', false, '{}', '{}'),
     ('obs_w', '127.9.0.2', 'tcp', 80, 'ww', 1, '2025-01-02T00:00:00Z', '2025-01-02T00:00:00Z', true, '{}', '{}'),
     ('obs_i', '127.9.0.2', 'tcp', 22, 'ii', 1, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', true, '{}', '{}')`,
  `insert into observation_sightings (id, last_seen, times_seen, checked_at, last_run_id, last_job_id) values
     ('obs_b', '2025-01-03T00:00:00Z', 2, '2025-01-03T00:00:00Z', 'run_b', 'job_b'),
     ('obs_w', '2025-01-04T00:00:00Z', 2, '2025-01-04T00:00:00Z', 'run_w', 'job_w'),
     ('obs_i', '2025-01-04T00:00:00Z', 1, '2025-01-04T00:00:00Z', 'run_i', 'job_i')`,
  `insert into observation_events (id, type, ip, protocol, port, at, hsh256, previous_hsh256, observation_id, previous_observation_id)
     values ('evt_c', 'changed', '127.9.0.2', 'tcp', 80, '2025-01-02T00:00:00Z', 'ww', 'bb', 'obs_w', 'obs_b')`,
];

/** The values of --version-intensity a profile accepts (core/nmap-args.ts: digits, 0 to 9). */
const INTENSITIES = ['5', '0', '9', '7', '007', '05', '000000002'];

/** Jobs of every shape viewFromArgv reads: [case, the job's scripts, its nmap_args]. */
const VIEW_CASES: Array<[string, string[], string[]]> = [
  ['plain', [], []],
  ['plain options', [], ['-T4', '--max-retries', '2', '-Pn']],
  ['scripts column', ['plum-banner'], []],
  ['scripts sorted, duplicates once', ['ssl-cert', 'http-title', 'ssl-cert'], []],
  ['script items trimmed, empty ones dropped', [' http-title ', '', 'ssl-cert,', ' , '], []],
  ['.nse and paths', ['plum-favicon.nse', 'X.NSE'], ['--script=/opt/plum/nse/plum-banner.nse', '--script', 'C:\\nse\\ssl-cert.Nse']],
  ['a bare .nse and a path ending in a separator', ['.nse', 'nse/'], []],
  ['scripts in JS order', ['Zeta', 'alpha', '_x', '-y', '9', 'a', 'A'], []],
  ['-sV', [], ['-sV']],
  ['-sC', ['http-title'], ['-sC']],
  ['-A', [], ['-A']],
  ['-A with scripts and timing', ['http-title'], ['-T4', '-A']],
  ['-sC and -A repeated', ['default'], ['-sC', '-A', '-sC']],
  ['--version-intensity N', [], ['-sV', '--version-intensity', '5']],
  ['--version-intensity=N', [], ['-sV', '--version-intensity=5']],
  ['-version-intensity N', [], ['-version-intensity', '3', '-sV']],
  ['-version-intensity=N', [], ['-sV', '-version-intensity=0']],
  ['intensity without -sV', [], ['--version-intensity', '5']],
  ['the last intensity counts', [], ['-sV', '--version-intensity', '5', '--version-light']],
  ['--version-light', [], ['-sV', '--version-light']],
  ['-version-light with -A', [], ['-A', '-version-light']],
  ['--version-all', [], ['-sV', '--version-all']],
  ['-version-all, then an intensity', [], ['-sV', '-version-all', '--version-intensity=4']],
  ['--version-all without -sV', [], ['--version-all']],
  ['--script-args a=1', ['http-title'], ['--script-args', 'a=1']],
  ['--script-args=a=1', ['http-title'], ['--script-args=a=1']],
  ['-script-args and a second one', [], ['-script-args', 'a=1', '--script-args', 'http.useragent=plum,b=2']],
  ['non-ASCII script args', [], ['--script-args', 'user=émile 😀']],
  ['empty --script-args=', [], ['--script-args=']],
  ['-script', [], ['-script', 'ssl-cert,http-title']],
  ['--script=x', [], ['--script=http-title']],
  ['-script=x', [], ['-script=ssl-cert']],
  ['empty --script=', [], ['--script=']],
  ['scripts column and --script in the options', ['ssl-cert', 'http-title'], ['--script', 'http-title,banner', '-sV']],
  ['an option value is not an option', [], ['--version-intensity', '-sV']],
  ['a --script-args value is not --script', [], ['--script-args', '--script', 'x']],
  ['an option without its value', [], ['-sV', '--version-intensity']],
  ['--script without its value', ['http-title'], ['--script']],
  ['-- stops before options', ['http-title'], ['--', '-sV', '--script', 'x']],
  ['-- after options', [], ['-A', '--', '--version-light']],
  ['-- as a value', [], ['--script-args', '--', '-sV']],
  ['look-alikes of options', [], ['-sv', '--sV', '-a', '--scripts', 'x', '--script-argsx=1', '--version-intensityx', '5']],
  ...INTENSITIES.map((v): [string, string[], string[]] => [`intensity ${v}`, [], ['-sV', '--version-intensity', v]]),
];

const sqlText = (s: string) => `'${s.replaceAll("'", "''")}'`;
const sqlArray = (a: string[]) => (a.length > 0 ? `ARRAY[${a.map(sqlText).join(', ')}]::text[]` : `'{}'::text[]`);

/** One profile job per case, each the last job of one observation (a port of its own). */
const VIEW_CASES_DATA = [
  "insert into runs (id, kind, status) values ('run_v', 'profile', 'succeeded')",
  `insert into jobs (id, run_id, index, tcp_ports, scripts, nmap_args) values ${VIEW_CASES.map(
    ([, scripts, args], i) => `('job_v${i}', 'run_v', ${i}, '80', ${sqlArray(scripts)}, ${sqlArray(args)})`,
  ).join(', ')}`,
  `insert into port_observations (id, ip, protocol, port, hsh256, fp_version, first_seen, state_changed_at, current, doc, fields) values ${VIEW_CASES.map(
    (_, i) => `('obs_v${i}', '127.9.1.1', 'tcp', ${1000 + i}, 'h', 1, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z', true, '{}', '{}')`,
  ).join(', ')}`,
  `insert into observation_sightings (id, last_seen, times_seen, checked_at, last_run_id, last_job_id) values ${VIEW_CASES.map(
    (_, i) => `('obs_v${i}', '2025-01-02T00:00:00Z', 1, '2025-01-02T00:00:00Z', 'run_v', 'job_v${i}')`,
  ).join(', ')}`,
];

/** A database at the first `n` migrations holding `data` (as an older Plum wrote it). */
async function olderDatabase(kind: (typeof storeKinds)[number], n: number, data: string[], cleanups: Array<() => Promise<void> | void>) {
  const { config, drop } = await makeTestConfig(kind);
  cleanups.push(drop);
  const old = olderMigrations(n);
  cleanups.push(() => fs.rmSync(old, { recursive: true, force: true }));
  if (kind === 'pglite') {
    fs.mkdirSync(config.home, { recursive: true });
    const pg = await PGlite.create(pgliteDir(config), { extensions: { pg_trgm } });
    await migratePglite(drizzlePglite(pg), { migrationsFolder: old });
    for (const q of data) await pg.query(q);
    await pg.close();
  } else {
    const client = postgres(config.PLUM_DATABASE_URL!, { max: 1, onnotice: () => {} });
    await migratePostgres(drizzlePostgres(client), { migrationsFolder: old });
    for (const q of data) await client.unsafe(q);
    await client.end();
  }
  return config;
}

describe.each(storeKinds)('upgrade in place on %s', (kind) => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('gives existing observations the view of their job, one head per view, and rewrites no event', async () => {
    const journal = JSON.parse(fs.readFileSync(path.join(MIGRATIONS_DIR, 'meta', '_journal.json'), 'utf8'));
    const before = journal.entries.findIndex((e: { tag: string }) => e.tag.endsWith('_observation_views'));
    expect(before).toBeGreaterThan(0);
    const store = await openStore(await olderDatabase(kind, before, BEFORE_VIEWS, cleanups));
    try {
      const rows = await store.query<{ id: string; view: string; current: boolean; view_head: boolean }>(
        'select id, view, current, view_head from port_observations order by id',
      );
      expect(rows).toEqual([
        { id: 'obs_b', view: viewOfJob(['plum-banner'], []), current: false, view_head: true },
        { id: 'obs_i', view: UNKNOWN_VIEW, current: true, view_head: true },
        { id: 'obs_w', view: viewOfJob(['ssl-cert', 'http-title'], ['-sV', '-T4']), current: true, view_head: true },
      ]);
      expect(rows[2]!.view).toBe('script:http-title,ssl-cert sV');
      const events = await store.query<Record<string, unknown>>(
        'select id, type, hsh256, previous_hsh256, observation_id, previous_observation_id from observation_events',
      );
      expect(events).toEqual([
        { id: 'evt_c', type: 'changed', hsh256: 'ww', previous_hsh256: 'bb', observation_id: 'obs_w', previous_observation_id: 'obs_b' },
      ]);
    } finally {
      await store.close();
    }
  });

  it('computes the view of every job as viewOfJob does', async () => {
    const journal = JSON.parse(fs.readFileSync(path.join(MIGRATIONS_DIR, 'meta', '_journal.json'), 'utf8'));
    const before = journal.entries.findIndex((e: { tag: string }) => e.tag.endsWith('_observation_views'));
    const store = await openStore(await olderDatabase(kind, before, VIEW_CASES_DATA, cleanups));
    try {
      const rows = await store.query<{ id: string; view: string }>("select id, view from port_observations where id like 'obs_v%'");
      const views = new Map(rows.map((r) => [r.id, r.view]));
      const expected = VIEW_CASES.map(([name, scripts, args]) => ({ name, args, view: viewOfJob(scripts, args) }));
      expect(VIEW_CASES.map(([name, , args], i) => ({ name, args, view: views.get(`obs_v${i}`) }))).toEqual(expected);
      // The cases reach every kind of part; the function the migration needed is gone.
      expect(expected.map((e) => e.view)).toEqual(
        expect.arrayContaining(['ports', 'script:default sV', 'script:default,http-title', 'sV:5', 'sV:2', 'sV:9', 'script:http-title args:c22fea5d']),
      );
      const [left] = await store.query<{ fns: number }>("select count(*)::int as fns from pg_proc where proname = 'plum_view_of_argv'");
      expect(left!.fns).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('applies later migrations to a database of the first version without losing data', async () => {
    const total = JSON.parse(fs.readFileSync(path.join(MIGRATIONS_DIR, 'meta', '_journal.json'), 'utf8')).entries.length;
    expect(total).toBeGreaterThan(2);
    const config = await olderDatabase(kind, 2, OLD_DATA, cleanups); // pg_trgm + the first store schema

    const store = await openStore(config);
    try {
      const [applied] = await store.query<{ n: number }>('select count(*) as n from drizzle.__drizzle_migrations');
      expect(applied!.n).toBe(total);
      const [obs] = await store.query<Record<string, unknown>>(
        "select id, host(ip) as ip, hsh256, first_seen, last_seen, times_seen, tags, fields from port_observations join observation_sightings using (id) where id = 'obs_old'",
      );
      expect(obs).toMatchObject({
        id: 'obs_old',
        ip: '127.9.0.1',
        hsh256: 'aa',
        first_seen: new Date('2025-01-01T00:00:00Z'),
        last_seen: new Date('2025-02-01T00:00:00Z'),
        times_seen: 1,
        tags: [],
        fields: { banner: ['SSH-2.0-old'], port: ['22'] },
      });
      const [ev] = await store.query<{ n: number }>("select count(*) as n from observation_events where observation_id = 'obs_old'");
      expect(ev!.n).toBe(1);
      const [job] = await store.query<{ run_id: string }>("select run_id from jobs where id = 'job_old'");
      expect(job!.run_id).toBe('run_old');
      // Opening again applies nothing twice.
      await store.close();
      const again = await openStore(config);
      const [n2] = await again.query<{ n: number }>('select count(*) as n from drizzle.__drizzle_migrations');
      expect(n2!.n).toBe(total);
      await again.close();
    } finally {
      await store.close();
    }
  });
});
