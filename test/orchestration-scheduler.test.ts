import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../core/log.ts';
import { createNmapRunner } from '../activities/nmap.ts';
import { saveProfile, setProfileEnabled } from '../store/repos/profiles.ts';
import { addTargets } from '../store/repos/targets.ts';
import { defaultIngestDeps, runEmbedded } from '../workers/embedded.ts';
import { createEmbeddedScheduler, latestSlot } from '../workers/scheduler.ts';
import type { RunRequest } from '../workflows/logic/types.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';
import { startPerimeter, type Perimeter } from '../demo/perimeter/index.ts';

/*
 * The embedded scheduler over a real database and real scans of the loopback
 * perimeter. Time is injected; every "restart" is a fresh scheduler instance
 * that knows only what the database holds.
 */

const T0 = new Date('2026-11-23T00:00:00Z');
const H = 3_600_000;
const at = (hours: number) => new Date(T0.getTime() + hours * H);

describe('latestSlot', () => {
  it('returns the latest slot at or before now and the skipped ones, for intervals and cron', () => {
    expect(latestSlot('12h', T0, at(1))).toEqual({ slot: T0, skipped: [] });
    const r = latestSlot('12h', T0, at(50));
    expect(r.slot).toEqual(at(48));
    expect(r.skipped).toEqual([T0, at(12), at(24), at(36)]);
    const c = latestSlot('0 3 * * *', at(3), at(24 * 3 + 5));
    expect(c.slot).toEqual(at(24 * 3 + 3));
    expect(c.skipped).toEqual([at(3), at(27), at(51)]);
  });
});

describe.each(storeKinds)('a fresh install on %s (default profiles, no targets yet)', (kind) => {
  it("skips the profiles' slots with an info line, not an error, and does not retry them in this process", async () => {
    const t = await openTestStore(kind);
    try {
      const lines: { level: number; msg: string }[] = [];
      const log = createLogger('info', 'plum', { write: (l: string) => void lines.push(JSON.parse(l) as { level: number; msg: string }) });
      const s = createEmbeddedScheduler({
        store: t.store,
        log,
        now: () => T0,
        startRun: (request) => runEmbedded({ store: t.store, config: t.config, log: silentLogger, nmap: createNmapRunner({ killGraceMs: 500 }) }, request),
      });
      const first = await s.tick();
      expect(first.map((r) => r.action).sort()).toEqual(['started', 'started']);
      await s.idle();
      const skipped = lines.filter((l) => l.msg.startsWith('scheduled run skipped: profile '));
      expect(skipped.map((l) => l.msg).sort()).toEqual([
        'scheduled run skipped: profile banner selects no targets (add targets with `plum target add VALUE`)',
        'scheduled run skipped: profile web selects no targets (add targets with `plum target add VALUE`)',
      ]);
      expect(skipped.every((l) => l.level === 30)).toBe(true);
      expect(lines.filter((l) => l.level >= 50)).toEqual([]);
      // The same slot is not tried again by this process.
      expect((await s.tick()).map((r) => r.action)).not.toContain('started');
    } finally {
      await t.cleanup();
    }
  }, 60_000);
});

let perimeter: Perimeter;
beforeAll(async () => {
  perimeter = await startPerimeter();
});
afterAll(async () => {
  await perimeter?.close();
});

describe.each(storeKinds)('embedded scheduler on %s', (kind) => {
  let t: TestStore;
  let clock: Date;
  const started: RunRequest[] = [];
  const nmap = createNmapRunner({ killGraceMs: 500 });

  beforeAll(async () => {
    t = await openTestStore(kind);
    const ssh = perimeter.service('ssh');
    await addTargets(t.store, [ssh.ip]);
    await saveProfile(t.store, { name: 'ssh-only', tcpPorts: String(ssh.port), every: '12h' });
    // The built-in profiles are enabled by default; this test schedules only its own.
    await setProfileEnabled(t.store, 'banner', false);
    await setProfileEnabled(t.store, 'web', false);
  }, 60_000);
  afterAll(async () => {
    await t?.cleanup();
  });

  /** A scheduler as a fresh process would create it. */
  const scheduler = async () => {
    const ingestDeps = await defaultIngestDeps(t.store, t.config);
    return createEmbeddedScheduler({
      store: t.store,
      log: silentLogger,
      now: () => clock,
      startRun: (request) => {
        started.push(request);
        return runEmbedded({ store: t.store, config: t.config, log: silentLogger, nmap, ingestDeps }, request);
      },
    });
  };
  const runsOf = (workflowId: string) => t.store.query<{ status: string }>('select status from runs where workflow_id = $1', [workflowId]);

  it('starts a never-run profile at once, records the slot, and does not start it twice (overlap skip)', async () => {
    clock = at(0);
    const s = await scheduler();
    const [first] = await s.tick();
    expect(first).toMatchObject({ profile: 'ssh-only', action: 'started', workflowId: `profile:ssh-only:${T0.toISOString()}`, slot: T0.toISOString() });
    const [second] = await s.tick();
    expect(second).toMatchObject({ profile: 'ssh-only', action: 'running' });
    await s.idle();
    expect(await runsOf(first!.workflowId!)).toEqual([{ status: 'succeeded' }]);
    const [state] = await t.store.query<{ last_run_id: string | null }>('select last_run_id from schedule_state');
    expect(state!.last_run_id).toMatch(/^run_/);
  }, 60_000);

  it('after a restart, does not run a slot again before its cycle is over', async () => {
    clock = at(1);
    const s = await scheduler();
    const [r] = await s.tick();
    expect(r).toMatchObject({ action: 'not-due', slot: at(12).toISOString() });
    await s.idle();
    expect(started).toHaveLength(1);
  });

  it('after a crash between claiming a slot and finishing its run, resumes that run under the same id (no skip, no double)', async () => {
    clock = at(12.1);
    // What a scheduler that died right after claiming the 12:00 slot leaves behind.
    const workflowId = `profile:ssh-only:${at(12).toISOString()}`;
    await t.store.query(`update schedule_state set last_scheduled_for = $1, last_workflow_id = $2, last_run_id = null`, [at(12).toISOString(), workflowId]);
    const s = await scheduler();
    const [r] = await s.tick();
    expect(r).toMatchObject({ action: 'resumed', workflowId });
    await s.idle();
    expect(await runsOf(workflowId)).toEqual([{ status: 'succeeded' }]);
    // The next restart sees the slot done.
    const s2 = await scheduler();
    expect((await s2.tick())[0]).toMatchObject({ action: 'not-due', slot: at(24).toISOString() });
    expect(started.map((x) => x.workflowId)).toEqual([`profile:ssh-only:${T0.toISOString()}`, workflowId]);
  }, 60_000);

  it('after a long stop, runs only the latest missed slot and records the skipped ones (bounded catch-up)', async () => {
    clock = at(12 + 12 * 5 + 1);
    const s = await scheduler();
    const [r] = await s.tick();
    expect(r).toMatchObject({ action: 'started', slot: at(72).toISOString(), skipped: [at(24), at(36), at(48), at(60)].map((d) => d.toISOString()) });
    await s.idle();
    const [state] = await t.store.query<{ skipped_slots: string[] }>('select skipped_slots from schedule_state');
    expect(state!.skipped_slots.map((x) => new Date(x).toISOString())).toEqual([at(24), at(36), at(48), at(60)].map((d) => d.toISOString()));
    const runs = await t.store.query<{ n: number }>(`select count(*)::int as n from runs where kind = 'profile'`);
    expect(Number(runs[0]!.n)).toBe(3);
  }, 60_000);
});
