import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../store/index.ts';
import { lockPath, readLock } from '../store/lock.ts';
import { runPlum } from './helpers/cli.ts';
import { makeTestConfig, storeKinds } from './helpers/db.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

const run = (args: string[], env: Record<string, string>) => runPlum(args, env);

function startHolder(env: Record<string, string>, home: string, share: boolean): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'helpers', 'store-holder.ts'), home, share ? 'share' : 'solo'], {
      env: { ...process.env, ...env },
      cwd: ROOT,
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('ready')) resolve(child);
    });
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => reject(new Error(`holder exited ${code}: ${out}`)));
  });
}

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.removeAllListeners('exit');
    child.on('exit', () => resolve());
    child.kill('SIGTERM');
  });

describe.each(storeKinds)('two plum processes on %s', (kind) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(share: boolean) {
    const { config, drop } = await makeTestConfig(kind);
    const env: Record<string, string> = { PLUM_HOME: config.home, ...(config.PLUM_DATABASE_URL ? { PLUM_DATABASE_URL: config.PLUM_DATABASE_URL } : {}) };
    // Create and migrate before the holder starts.
    const s = await openStore(config);
    await s.query("insert into runs (id, kind) values ('run_holder', 'profile')");
    await s.close();
    const holder = await startHolder(env, config.home, share);
    cleanups.push(async () => {
      await stop(holder);
      await drop();
    });
    return { config, env, holder };
  }

  it('lets other commands work while a long-running process shares the database', async () => {
    const { config, env, holder } = await setup(true);
    if (kind === 'pglite') expect(readLock(config.home)).toMatchObject({ pid: holder.pid, socket: path.join(config.home, 'plum.sock') });
    // Several commands at once, through the holder's socket on PGlite, straight to the server on PostgreSQL.
    const results = await Promise.all([
      run(['history', '--format', 'json'], env),
      run(['history', '--since', '30d', '--format', 'json'], env),
      run(['init'], env),
    ]);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(results[0]!.stdout)).toEqual([]);
    expect(results[2]!.stderr).toMatch(/is ready \(\d+ migrations applied\)/);
    // A write from another process, then a rolled back one, both visible to the holder once it stops.
    const other = await openStore(config, { lockWaitMs: 0 });
    expect(other.via).toBe(kind === 'pglite' ? 'socket' : 'server');
    await other.query("insert into rules (id, name, query, version) values ('rule_a', 'a', 'port:22', '1')");
    await expect(
      other.transaction(async (tx) => {
        await tx.query("insert into rules (id, name, query, version) values ('rule_b', 'b', 'port:22', '1')");
        throw new Error('abandon');
      }),
    ).rejects.toThrow('abandon');
    await other.close();
    await stop(holder);
    if (kind === 'pglite') expect(fs.existsSync(lockPath(config.home))).toBe(false);
    const after = await openStore(config, { lockWaitMs: 0 });
    const rules = await after.query<{ id: string }>('select id from rules order by id');
    const [run_] = await after.query<{ progress: { tick?: string } }>("select progress from runs where id = 'run_holder'");
    await after.close();
    expect(rules).toEqual([{ id: 'rule_a' }]);
    // The holder kept writing while the others used the database.
    expect(run_!.progress.tick).toBeTruthy();
  });

  it('stops a second process with a one-line message naming the holder when it does not share', async () => {
    const { env, holder } = await setup(false);
    const r = await run(['history', '--format', 'json'], env);
    if (kind === 'postgres') {
      expect(r.code, r.stderr).toBe(0);
      return;
    }
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`is in use by plum process ${holder.pid}`);
    expect(r.stderr).toContain('PLUM_DATABASE_URL');
  });
});

describe('the embedded database lock', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('takes over the lock of a holder that died', async () => {
    const { config, drop } = await makeTestConfig('pglite');
    cleanups.push(drop);
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    fs.mkdirSync(config.home, { recursive: true });
    fs.writeFileSync(lockPath(config.home), JSON.stringify({ pid: Number(dead), startedAt: new Date().toISOString() }));
    const s = await openStore(config, { lockWaitMs: 0 });
    expect(readLock(config.home)?.pid).toBe(process.pid);
    await s.close();
    expect(fs.existsSync(lockPath(config.home))).toBe(false);
  });
});

describe('taking over a stale home lock', () => {
  it('gives it to exactly one of four processes racing for it (100 trials)', async () => {
    const TRIALS = 100;
    const RACERS = 4;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-lock-race-'));
    try {
      // A stale lock: it names a process that has exited.
      const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!;
      for (let i = 0; i < TRIALS; i++) {
        fs.mkdirSync(path.join(dir, `home-${i}`));
        fs.writeFileSync(lockPath(path.join(dir, `home-${i}`)), JSON.stringify({ pid: deadPid, startedAt: new Date().toISOString() }));
      }
      const racers = Array.from({ length: RACERS }, () =>
        spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'helpers', 'lock-racer.ts'), dir, String(TRIALS)], {
          cwd: ROOT,
          stdio: ['ignore', 'ignore', 'inherit'],
        }),
      );
      const exited = racers.map((r) => new Promise<void>((resolve) => r.once('exit', () => resolve())));
      const holders: number[] = [];
      try {
        for (let i = 0; i < TRIALS; i++) {
          fs.writeFileSync(path.join(dir, `go-${i}`), '');
          const deadline = Date.now() + 30_000;
          let results: string[] = [];
          while (Date.now() < deadline) {
            results = fs.readdirSync(dir).filter((f) => f.startsWith(`res-${i}-`) && !f.endsWith('.tmp'));
            if (results.length === RACERS) break;
            await new Promise((r) => setTimeout(r, 5));
          }
          expect(results, `trial ${i}`).toHaveLength(RACERS);
          const outcomes = results.map((f) => fs.readFileSync(path.join(dir, f), 'utf8'));
          expect(
            outcomes.filter((o) => o !== 'held' && o !== 'locked'),
            `trial ${i}`,
          ).toEqual([]);
          holders.push(outcomes.filter((o) => o === 'held').length);
          fs.writeFileSync(path.join(dir, `done-${i}`), '');
        }
      } finally {
        for (const r of racers) r.kill('SIGKILL');
        await Promise.all(exited);
      }
      expect(
        holders.filter((n) => n !== 1).length,
        `trials without exactly one holder: ${holders
          .map((n, i) => (n !== 1 ? `${i}:${n}` : ''))
          .filter(Boolean)
          .join(' ')}`,
      ).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
