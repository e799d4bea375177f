import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runPlum } from './helpers/cli.ts';
import { makeTestConfig, storeKinds } from './helpers/db.ts';

/*
 * Every run ends in a terminal state: `plum runs cancel`, Ctrl-C under npx,
 * and a process killed outright (its run is marked as interrupted by the next
 * plum command). The run scans 256 loopback addresses on every port, which
 * keeps nmap busy far longer than the test.
 */

interface Run {
  id: string;
  status: string;
  error: string | null;
  profile: string | null;
}

async function setup(kind: (typeof storeKinds)[number]) {
  const { config, drop } = await makeTestConfig(kind);
  const env: Record<string, string> = { PLUM_HOME: config.home, ...(config.PLUM_DATABASE_URL ? { PLUM_DATABASE_URL: config.PLUM_DATABASE_URL } : {}) };
  for (const args of [['init'], ['target', 'add', '127.0.78.0/24'], ['profile', 'add', 'slow', '--ports', '1-65535']]) {
    const r = await runPlum(args, env);
    expect(r.code, r.stderr).toBe(0);
  }
  return { env, drop };
}

/** Starts `plum run slow` (or through npx), in its own process group like a terminal job; resolves once its nmap runs. */
async function startRun(
  env: Record<string, string>,
  via: 'node' | 'npx',
): Promise<{ child: ChildProcess; exited: Promise<number | null>; stderr: () => string }> {
  const [cmd, args] =
    via === 'npx' ? ['npx', ['--no-install', 'plum', 'run', 'slow']] : [process.execPath, [path.join(ROOT, 'bin', 'plum.mjs'), 'run', 'slow']];
  const child = spawn(cmd as string, args as string[], { env: { ...process.env, ...env }, cwd: ROOT, detached: true });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`the run did not start: ${err}`)), 90_000);
    const poll = setInterval(() => {
      if (/1 job over 256 addresses/.test(err)) {
        clearInterval(poll);
        clearTimeout(t);
        // Give nmap a moment to start.
        setTimeout(resolve, 2000);
      }
    }, 100);
  });
  return { child, exited, stderr: () => err };
}

async function runs(env: Record<string, string>): Promise<{ list: Run[]; stderr: string }> {
  const r = await runPlum(['runs', '--format', 'json'], env);
  expect(r.code, r.stderr).toBe(0);
  return { list: JSON.parse(r.stdout) as Run[], stderr: r.stderr };
}

describe.each(storeKinds)('every run ends in a terminal state (%s)', (kind) => {
  it('plum runs cancel RUN_ID stops a running plum run', async () => {
    const { env, drop } = await setup(kind);
    let child: ChildProcess | undefined;
    try {
      const started = await startRun(env, 'node');
      child = started.child;
      // PostgreSQL: the run is listed as running; PGlite: `plum run` holds the database, so take the id from the lock-free side after.
      let runId: string;
      if (kind === 'postgres') {
        const { list } = await runs(env);
        expect(list.map((r) => r.status)).toEqual(['running']);
        runId = list[0]!.id;
      } else {
        const refused = await runPlum(['runs', 'cancel', 'run_01jd0000000000000000000000'], env);
        expect(refused.code).not.toBe(0);
        expect(refused.stderr).toMatch(/is not the run of pid \d+ \(run slow\)/);
        // The id of a run started now: ids are time-sorted, and the holder started just before.
        runId = (await import('../core/ids.ts')).newId('run');
      }
      const cancel = await runPlum(['runs', 'cancel', runId], env);
      expect(await started.exited, started.stderr()).toBe(130);
      expect(started.stderr()).toMatch(/job 0 was cancelled; nmap was stopped/);
      const { list } = await runs(env);
      expect(list.map((r) => r.status)).toEqual(['cancelled']);
      if (kind === 'postgres') {
        expect(cancel.code, cancel.stderr).toBe(0);
        expect(cancel.stderr).toContain(`run ${runId} cancelled`);
      } else {
        expect(started.stderr()).toContain('cancelling the run');
        expect(cancel.stderr).toMatch(/sent Ctrl-C \(SIGINT\) to pid \d+ \(run slow\)/);
      }
      const again = await runPlum(['runs', 'cancel', list[0]!.id], env);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain(`run ${list[0]!.id} is already cancelled`);
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
      await drop();
    }
  }, 240_000);

  it('Ctrl-C under npx plum run records the run as cancelled', async () => {
    const { env, drop } = await setup(kind);
    let child: ChildProcess | undefined;
    try {
      const started = await startRun(env, 'npx');
      child = started.child;
      // A terminal's Ctrl-C goes to the whole foreground process group: npx, and plum under it.
      process.kill(-child.pid!, 'SIGINT');
      await started.exited;
      // npx may exit before plum: wait until plum has let the store go.
      let list: Run[] = [];
      for (let i = 0; i < 60; i++) {
        const r = await runPlum(['runs', '--format', 'json'], env);
        if (r.code === 0) {
          list = JSON.parse(r.stdout) as Run[];
          if (list[0]?.status !== 'running') break;
        }
        await new Promise((res) => setTimeout(res, 500));
      }
      expect(list.map((r) => [r.status, r.error])).toEqual([['cancelled', expect.not.stringMatching(/interrupted/)]]);
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
      await drop();
    }
  }, 240_000);

  it('a run whose process was killed is marked interrupted by the next plum command', async () => {
    const { env, drop } = await setup(kind);
    try {
      const started = await startRun(env, 'node');
      // kill -9 of the whole job: plum and its nmap.
      process.kill(-started.child.pid!, 'SIGKILL');
      await started.exited;
      const { list, stderr } = await runs(env);
      expect(list).toHaveLength(1);
      expect(list[0]).toMatchObject({ status: 'cancelled', error: expect.stringMatching(/^interrupted: the process that ran it \(pid \d+ on .+\) is gone$/) });
      expect(stderr).toContain(`run ${list[0]!.id} was left running by a process that is gone`);
      const jobs = await runPlum(['runs', list[0]!.id, '--format', 'json'], env);
      expect((JSON.parse(jobs.stdout) as { jobs: { status: string }[] }).jobs.map((j) => j.status)).toEqual(['cancelled']);
    } finally {
      await drop();
    }
  }, 240_000);
});
