import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planJobs, summarisePlan } from '../core/plan.ts';
import { enforceScope } from '../core/scope.ts';
import { PlumError } from '../core/errors.ts';
import type { Store } from '../store/index.ts';
import { getProfile, listProfiles, removeProfile, saveProfile } from '../store/repos/profiles.ts';
import { addTargets, listTargets, loadPerimeter, loadPlanTargets, removeTargets } from '../store/repos/targets.ts';
import { makeTestConfig, openTestStore, storeKinds, type TestStore, cliEnvOf } from './helpers/db.ts';

const run = promisify(execFile);

describe.each(storeKinds)('targets and profiles on %s', (kind) => {
  let t: TestStore;
  let store: Store;
  beforeAll(async () => {
    t = await openTestStore(kind);
    store = t.store;
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('adds targets all-or-nothing, merges labels of repeats and reports overlaps', async () => {
    const r = await addTargets(store, ['127.40.0.0/24', '127.41.0.1-127.41.0.20', 'App.Perimeter.test'], { labels: ['DMZ'] });
    expect(r.added.map((x) => [x.value, x.kind, x.size, x.labels])).toEqual([
      ['127.40.0.0/24', 'cidr', 256, ['dmz']],
      ['127.41.0.1-127.41.0.20', 'range', 20, ['dmz']],
      ['app.perimeter.test', 'fqdn', 1, ['dmz']],
    ]);
    expect(r.added[0]!.id).toMatch(/^tgt_/);
    const again = await addTargets(store, ['127.40.0.128/25', '127.40.0.0/24'], { labels: ['lab'] });
    expect(again.added.map((x) => x.value)).toEqual(['127.40.0.128/25']);
    expect(again.unchanged.map((x) => [x.value, x.labels])).toEqual([['127.40.0.0/24', ['dmz', 'lab']]]);
    expect(again.overlaps).toEqual([{ target: '127.40.0.128/25', overlaps: '127.40.0.0/24', shared: 128n }]);

    // One bad value: nothing written.
    const before = (await listTargets(store)).length;
    await expect(addTargets(store, ['127.42.0.1', '127.42.0.300'])).rejects.toThrow(/invalid target "127.42.0.300"/);
    expect((await listTargets(store)).length).toBe(before);
    // A value declared as a target cannot silently become an exclusion.
    await expect(addTargets(store, ['127.40.0.0/24'], { exclude: true })).rejects.toMatchObject({ code: 'conflict' });
    await addTargets(store, ['127.40.0.10-127.40.0.19'], { exclude: true });
    expect((await listTargets(store, { label: 'lab' })).map((x) => x.value)).toEqual(['127.40.0.0/24', '127.40.0.128/25']);
  });

  it('feeds the scope guard and the planner from stored targets', async () => {
    const perimeter = await loadPerimeter(store);
    const resolve = async (n: string) => (n === 'app.perimeter.test' ? ['127.40.0.50'] : []);
    await expect(enforceScope(['127.40.0.1', 'app.perimeter.test'], perimeter, { resolve })).resolves.toMatchObject({ ok: true });
    const err = await enforceScope(['127.40.0.15', '127.43.0.1'], perimeter, { resolve }).catch((e) => e);
    expect(err).toBeInstanceOf(PlumError);
    expect(err.message).toBe('refused, out of scope: 127.40.0.15 (excluded), 127.43.0.1 (outside the perimeter)');

    const web = await getProfile(store, 'web');
    const jobs = planJobs(web, await loadPlanTargets(store));
    expect(jobs.map((j) => j.targets)).toEqual([['127.40.0.0-9', '127.40.0.20-255'], ['127.41.0.1-20'], ['app.perimeter.test']]);
    expect(summarisePlan(web, jobs)).toMatchObject({ jobs: 3, addresses: 266, names: 1, probes: 267 * 4 });
  });

  it('stores profiles, seeds the built-in ones and removes them safely', async () => {
    expect((await listProfiles(store)).map((p) => p.name)).toEqual(['banner', 'web']);
    const p = await saveProfile(store, {
      name: 'ssh',
      tcpPorts: '22,2222',
      scripts: 'plum-banner',
      every: '7d',
      priority: 1,
      targets: 'label:dmz',
      nmapArgs: '-T4',
    });
    expect(p).toMatchObject({
      name: 'ssh',
      tcpPorts: '22,2222',
      every: '7d',
      priority: 1,
      targets: 'label:dmz',
      nmapArgs: ['-T4'],
      enabled: true,
      builtin: false,
    });
    await expect(saveProfile(store, { name: 'ssh', tcpPorts: '22' })).rejects.toMatchObject({ code: 'conflict' });
    expect(await saveProfile(store, { name: 'ssh', tcpPorts: '22' }, { replace: true })).toMatchObject({ tcpPorts: '22', every: '12h' });
    await expect(saveProfile(store, { name: 'x', tcpPorts: '22', nmapArgs: '--datadir /tmp' })).rejects.toMatchObject({ code: 'invalid_input' });
    expect(await removeProfile(store, 'banner')).toMatchObject({ removed: false, enabled: false });
    expect(await removeProfile(store, 'ssh')).toMatchObject({ removed: true });
    expect((await listProfiles(store)).map((x) => [x.name, x.enabled])).toEqual([
      ['banner', false],
      ['web', true],
    ]);
    await expect(getProfile(store, 'ssh')).rejects.toThrow(/no profile named ssh/);
  });

  it('removes targets only when all exist', async () => {
    await expect(removeTargets(store, ['127.40.0.128/25', '127.99.0.0/24'])).rejects.toThrow(/no such target: 127.99.0.0\/24/);
    expect((await removeTargets(store, ['127.40.0.128/25'])).map((x) => x.value)).toEqual(['127.40.0.128/25']);
  });
});

describe('the target, profile and plan commands', () => {
  const cli = async (env: NodeJS.ProcessEnv, ...args: string[]) => {
    try {
      const r = await run('node', ['bin/plum.mjs', ...args], { env, encoding: 'utf8' });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, stdout: x.stdout, stderr: x.stderr };
    }
  };

  it.each(storeKinds)(
    'declare, plan and refuse on %s',
    async (kind) => {
      const { config, drop } = await makeTestConfig(kind);
      const env = { ...process.env, ...cliEnvOf(config) };
      try {
        const add = await cli(env, 'target', 'add', '127.44.0.0/23', '127.44.0.5', '--label', 'lab', '--format', 'json');
        expect(add.code).toBe(0);
        expect(JSON.parse(add.stdout).overlaps).toEqual([{ target: '127.44.0.5', overlaps: '127.44.0.0/23', shared: 1 }]);
        if (kind === 'pglite') {
          const list = JSON.parse((await cli(env, 'target', 'list', '--format', 'json')).stdout);
          expect(list.map((x: { value: string; labels: string[] }) => [x.value, x.labels])).toEqual([
            ['127.44.0.0/23', ['lab']],
            ['127.44.0.5', ['lab']],
          ]);
          const check = await cli(env, 'target', 'check', '127.44.1.9', '127.99.0.1', '--format', 'json');
          expect(check.code).toBe(1);
          expect(JSON.parse(check.stdout)).toEqual({
            ok: false,
            targets: [
              { target: '127.44.1.9', in_scope: true, reason: null, addresses: null },
              { target: '127.99.0.1', in_scope: false, reason: 'outside_perimeter', addresses: ['127.99.0.1'] },
            ],
          });
          expect(check.stderr).toBe('plum: out of scope: 127.99.0.1 (outside the perimeter)\n');
        }

        const prof = await cli(
          env,
          'profile',
          'add',
          'lab',
          '--ports',
          '22,80',
          '--scripts',
          'plum-banner',
          '--nmap-args',
          '-T4 --max-retries 1',
          '--every',
          '6h',
          '--priority',
          '3',
          '--targets',
          'label:lab',
        );
        expect(prof.code, prof.stderr).toBe(0);
        const plan = JSON.parse((await cli(env, 'plan', 'lab', '--format', 'json')).stdout);
        expect(plan.summary).toMatchObject({ jobs: 2, addresses: 512, probes: 1024 });
        expect(plan.jobs[0]).toMatchObject({
          targets: ['127.44.0.0/24'],
          tcp_ports: '22,80',
          scripts: ['plum-banner'],
          extra_args: ['-T4', '--max-retries', '1'],
        });

        // Each CLI start costs seconds on a busy 2-core machine: the refusals run once.
        const badFile = path.join(config.home, 'targets.txt');
        await writeFile(badFile, '# ranges\n127.45.0.0/24\n\n127.45.1.0/33 # typo\n');
        const refusals: string[][] =
          kind === 'postgres'
            ? []
            : [
                ['target', 'add', '--file', badFile],
                ['target', 'add', '127.44.0.1/23'],
                ['profile', 'add', 'x', '--ports', '80', '--nmap-args', '-iL /etc/hosts'],
                ['plan', 'nope'],
              ];
        for (const args of refusals) {
          const r = await cli(env, ...args);
          expect(r.code, args.join(' ')).not.toBe(0);
          expect(r.stdout).toBe('');
          expect(r.stderr.trim().split('\n')).toHaveLength(1);
          expect(r.stderr).toMatch(/^plum: /);
          if (args.includes('--file')) expect(r.stderr).toContain('targets.txt:4: invalid target "127.45.1.0/33"');
        }
      } finally {
        await drop();
      }
    },
    300_000,
  ); // each CLI start opens the database: seconds apiece on a loaded 2-core machine
});
