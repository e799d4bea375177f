import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlumError } from '../core/errors.ts';
import { silentLogger } from '../core/log.ts';
import { createNmapRunner } from '../activities/nmap.ts';
import type { JobHeartbeat } from '../activities/index.ts';
import { saveProfile } from '../store/repos/profiles.ts';
import { addTargets } from '../store/repos/targets.ts';
import { profileRequest, runEmbedded, runInvestigationEmbedded, type EmbeddedDeps } from '../workers/embedded.ts';
import { embeddedServices } from '../workers/serve-services.ts';
import { runFindings } from '../cli/findings.ts';
import type { RunEvent } from '../workflows/logic/types.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';
import { startPerimeter, type Perimeter } from '../demo/perimeter/index.ts';

/*
 * The shared workflow logic end to end through the embedded runner: real
 * activities, real nmap on the loopback perimeter, a real database (both
 * drivers). The same executeScanRun is what the Temporal workflows run.
 */

let perimeter: Perimeter;
beforeAll(async () => {
  perimeter = await startPerimeter();
});
afterAll(async () => {
  await perimeter?.close();
});

describe.each(storeKinds)('embedded runs on %s', (kind) => {
  let t: TestStore;
  let deps: EmbeddedDeps;
  let events: RunEvent[];
  let beats: JobHeartbeat[];
  const nmap = createNmapRunner({ statsEvery: '1s', killGraceMs: 500 });

  beforeAll(async () => {
    t = await openTestStore(kind);
    await addTargets(t.store, [`${perimeter.prefix}.1-6`]);
    await saveProfile(t.store, {
      name: 'quick',
      tcpPorts: perimeter.services.map((s) => String(s.port)).join(','),
      scripts: 'plum-banner,http-title',
      nmapArgs: '--script-args plum-banner.timeout=2',
    });
  }, 60_000);
  afterAll(async () => {
    await t?.cleanup();
  });

  const makeDeps = (over: Partial<EmbeddedDeps> = {}): EmbeddedDeps => {
    events = [];
    beats = [];
    return {
      store: t.store,
      config: t.config,
      log: silentLogger,
      nmap,
      maxJobSize: 2,
      maxInFlight: 2,
      onEvent: (e) => events.push(e),
      onJobProgress: (hb) => beats.push(hb),
      ...over,
    };
  };

  it('runs a profile over several jobs with bounded concurrency and stores every result', async () => {
    deps = makeDeps();
    const request = profileRequest('quick', { scheduledFor: new Date('2026-11-23T10:00:00Z') });
    const summary = await runEmbedded(deps, request);

    const services = perimeter.services.length;
    expect(summary).toMatchObject({ kind: 'profile', profile: 'quick', status: 'succeeded', workflowId: 'profile:quick:2026-11-23T10:00:00.000Z' });
    expect(summary.counters).toMatchObject({ jobs: 3, jobsDone: 3, jobsFailed: 0, hostsUp: 6, ports: services, appeared: services, changed: 0, gone: 0 });
    expect(events.filter((e) => e.type === 'job-started')).toHaveLength(3);
    expect(events.at(-1)!.type).toBe('finished');
    // At most two jobs in flight at any time.
    let inFlight = 0;
    let max = 0;
    for (const e of events) {
      if (e.type === 'job-started') max = Math.max(max, ++inFlight);
      if (e.type === 'job-finished') inFlight--;
    }
    expect(max).toBe(2);
    expect(beats.some((b) => b.phase === 'delivered' && b.percent === 100)).toBe(true);

    const [run] = await t.store.query<{ status: string; counters: Record<string, number>; workflow_id: string }>(
      'select status, counters, workflow_id from runs where id = $1',
      [summary.runId],
    );
    expect(run).toMatchObject({ status: 'succeeded', workflow_id: summary.workflowId });
    expect(run!.counters.ports).toBe(services);
    const jobs = await t.store.query<{ status: string; attempts: number; ingested_at: unknown }>(
      'select status, attempts, ingested_at from jobs where run_id = $1 order by index',
      [summary.runId],
    );
    expect(jobs.map((j) => j.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(jobs.every((j) => j.ingested_at)).toBe(true);
    const raws = await t.store.query('select 1 from raw_results where run_id = $1', [summary.runId]);
    expect(raws).toHaveLength(3);
    const findings = await runFindings(t.store, summary.runId);
    expect(findings).toHaveLength(services);
    expect(findings.every((f) => f.event === 'appeared')).toBe(true);
    expect(findings.find((f) => f.ip === perimeter.service('ssh').ip)!.service).toMatch(/OpenSSH/);
  }, 120_000);

  it('resumes a run by its workflow id without scanning a finished job again', async () => {
    deps = makeDeps();
    const request = profileRequest('quick', { scheduledFor: new Date('2026-11-23T10:00:00Z') });
    const before = await t.store.query<{ attempts: number }>(
      `select j.attempts from jobs j join runs r on r.id = j.run_id where r.workflow_id = $1 order by j.index`,
      [request.workflowId],
    );
    const summary = await runEmbedded(deps, request);
    expect(events[0]).toMatchObject({ type: 'planned', plan: { resumed: true, jobCount: 3 } });
    expect(summary.counters).toMatchObject({ jobs: 3, jobsDone: 3, appeared: perimeter.services.length });
    const after = await t.store.query<{ attempts: number }>(
      `select j.attempts from jobs j join runs r on r.id = j.run_id where r.workflow_id = $1 order by j.index`,
      [request.workflowId],
    );
    expect(after).toEqual(before);
    expect(beats).toHaveLength(0);
    const runs = await t.store.query('select 1 from runs where workflow_id = $1', [request.workflowId]);
    expect(runs).toHaveLength(1);
  }, 60_000);

  it('sees a changed title and a stopped service on the next run', async () => {
    perimeter.setHttpTitle('Maintenance in progress');
    await perimeter.stopService('ftp');
    try {
      deps = makeDeps();
      const summary = await runEmbedded(deps, profileRequest('quick', { scheduledFor: new Date('2026-11-23T22:00:00Z') }));
      expect(summary.status).toBe('succeeded');
      expect(summary.counters.gone).toBe(1);
      expect(summary.counters.changed).toBeGreaterThanOrEqual(1);
      const findings = await runFindings(t.store, summary.runId);
      const http = findings.find((f) => f.ip === perimeter.service('http').ip)!;
      expect(http.event).toBe('changed');
      expect(http.service).toMatch(/Maintenance in progress/);
    } finally {
      await perimeter.startService('ftp');
      perimeter.setHttpTitle('Welcome');
    }
  }, 120_000);

  it('runs an investigation at priority 4 and reports what is new', async () => {
    deps = makeDeps();
    const ssh = perimeter.service('ssh');
    const summary = await runInvestigationEmbedded(deps, { targets: [ssh.ip], tcpPorts: String(ssh.port), scripts: ['plum-banner'], reason: 'test' });
    expect(summary).toMatchObject({ kind: 'investigation', status: 'succeeded', counters: { jobs: 1, ports: 1, appeared: 0 } });
    expect(summary.workflowId).toMatch(/^investigation:inv_[0-9a-z]{26}$/);
    expect(events[0]).toMatchObject({ type: 'planned', plan: { priority: 4 } });
    const [run] = await t.store.query<{ kind: string; targets: string[]; reason: string }>('select kind, targets, reason from runs where id = $1', [
      summary.runId,
    ]);
    expect(run).toEqual({ kind: 'investigation', targets: [ssh.ip], reason: 'test' });
  }, 60_000);

  it('refuses an investigation outside the perimeter before storing or scanning anything', async () => {
    deps = makeDeps();
    const before = await t.store.query<{ n: number }>('select count(*)::int as n from runs');
    const err = await runInvestigationEmbedded(deps, { targets: ['127.250.1.1'], tcpPorts: '22' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PlumError);
    expect((err as PlumError).code).toBe('out_of_scope');
    expect((err as PlumError).message).toMatch(/127\.250\.1\.1/);
    const after = await t.store.query<{ n: number }>('select count(*)::int as n from runs');
    expect(Number(after[0]!.n)).toBe(Number(before[0]!.n));
    expect(beats).toHaveLength(0);
  });

  it('cancels a run: nmap is stopped and the run is recorded as cancelled', async () => {
    const ac = new AbortController();
    deps = makeDeps({ signal: ac.signal });
    // Cancel once nmap runs: plum-banner waits 5 s for a banner the HTTP service never sends.
    deps.onEvent = (e) => {
      events.push(e);
      if (e.type === 'job-started') setTimeout(() => ac.abort(), 700);
    };
    const http = perimeter.service('http');
    const started = Date.now();
    const err = await runInvestigationEmbedded(deps, {
      targets: [http.ip],
      tcpPorts: String(http.port),
      scripts: ['plum-banner'],
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(Date.now() - started).toBeLessThan(4_500);
    expect((err as PlumError).code).toBe('cancelled');
    const [run] = await t.store.query<{ status: string }>(`select status from runs where kind = 'investigation' order by created_at desc limit 1`);
    expect(run!.status).toBe('cancelled');
  }, 60_000);

  it('serves investigations in the background for the API: run id at once, refusals reject, cancellation stops nmap', async () => {
    const services = embeddedServices({ store: t.store, config: t.config, log: silentLogger, nmap });
    try {
      await expect(services.api.startInvestigation!({ targets: ['127.250.9.9'], tcpPorts: '22', requestedBy: 'api' })).rejects.toMatchObject({
        code: 'out_of_scope',
      });
      const http = perimeter.service('http');
      const t0 = Date.now();
      const { runId } = await services.api.startInvestigation!({
        targets: [http.ip],
        tcpPorts: String(http.port),
        scripts: ['plum-banner'],
        requestedBy: 'api',
      });
      expect(runId).toMatch(/^run_/);
      const [running] = await t.store.query<{ status: string }>('select status from runs where id = $1', [runId]);
      expect(running!.status).toBe('running');
      await new Promise((r) => setTimeout(r, 700));
      // Resolves once the runner has recorded the cancellation (nmap killed).
      await services.api.cancelRun!(runId);
      expect(Date.now() - t0).toBeLessThan(4_500);
      const [after] = await t.store.query<{ status: string }>('select status from runs where id = $1', [runId]);
      expect(after!.status).toBe('cancelled');
      await expect(services.api.cancelRun!(runId)).rejects.toMatchObject({ code: 'conflict' });
    } finally {
      await services.close();
    }
  }, 60_000);
});
