import { execFileSync } from 'node:child_process';
import { CancelledFailure, ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/log.ts';
import { addTargets } from '../store/repos/targets.ts';
import { openTestStore, storeKinds, type TestStore } from '../test/helpers/db.ts';
import { startPerimeter, type Perimeter } from '../demo/perimeter/index.ts';
import { NON_RETRYABLE_ERROR_TYPES } from '../workflows/options.ts';
import { PlumError, type ErrorCode } from '../core/errors.ts';
import type { NmapJobResult } from '../workflows/logic/types.ts';
import type { JobHeartbeat } from './index.ts';
import { createActivities, toActivityFailure, toTemporalActivities } from './index.ts';
import { createNmapRunner } from './nmap.ts';

/*
 * Activities under Temporal's MockActivityEnvironment (a real activity
 * Context: heartbeats and cancellation as a worker delivers them), with the
 * real nmap runner on the loopback perimeter and a real database.
 */

function nmapRunningWith(marker: string): boolean {
  try {
    return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false;
  }
}

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const mockEnv = () => new MockActivityEnvironment({ attempt: 1 }, { logger: quiet });

let perimeter: Perimeter;
beforeAll(async () => {
  perimeter = await startPerimeter();
});
afterAll(async () => {
  await perimeter?.close();
});

describe.each(storeKinds)('activities on %s', (kind) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(kind);
    await addTargets(t.store, [`${perimeter.prefix}.0/24`]);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const make = () =>
    toTemporalActivities(
      createActivities({
        log: silentLogger,
        store: t.store,
        nmap: createNmapRunner({ statsEvery: '1s', killGraceMs: 500 }),
        heartbeatEveryMs: 300,
        runnerName: 'test',
      }),
    );

  it('heartbeats nmap progress while scanning, stores the result by claim check and ingests it once', async () => {
    const acts = make();
    const http = perimeter.service('http');
    const plan = await acts.planRun({
      kind: 'investigation',
      investigationId: 'inv_test',
      workflowId: `investigation:hb-${kind}`,
      targets: [http.ip],
      tcpPorts: String(http.port),
      scripts: ['plum-banner'],
      requestedBy: 'test',
    });
    expect(plan).toMatchObject({ kind: 'investigation', priority: 4, jobCount: 1, addressCount: 1, resumed: false });
    // planRun is idempotent per workflow id.
    expect(
      await acts.planRun({
        kind: 'investigation',
        investigationId: 'inv_test',
        workflowId: `investigation:hb-${kind}`,
        targets: [http.ip],
        tcpPorts: String(http.port),
        requestedBy: 'test',
      }),
    ).toMatchObject({ runId: plan.runId, resumed: true });
    const [spec] = await acts.getJobSpecs({ runId: plan.runId, fromIndex: 0, count: 10 });
    // The HTTP service sends no banner: plum-banner waits 3 s, long enough for nmap's progress lines.
    const slow = { ...spec!, extraArgs: ['--script-args', 'plum-banner.timeout=3'] };

    const env = mockEnv();
    const beats: JobHeartbeat[] = [];
    env.on('heartbeat', (d: JobHeartbeat) => beats.push(d));
    const result: NmapJobResult = await env.run(acts.runNmapJob, slow);

    expect(result).toMatchObject({ runId: plan.runId, jobId: spec!.jobId, delivery: 'stored', interrupted: false, exitCode: 0 });
    expect(result.sha256).toMatch(/^[0-9a-f]{64}$/);
    // Only ids and digests came back; the XML is in raw_results.
    expect(JSON.stringify(result).length).toBeLessThan(500);
    expect(beats[0]).toMatchObject({ jobId: spec!.jobId, phase: 'starting', percent: 0 });
    expect(beats.at(-1)).toMatchObject({ phase: 'delivered', percent: 100 });
    const fromNmap = beats.filter((b) => !['starting', 'delivered', 'scanning'].includes(b.phase));
    expect(fromNmap.length).toBeGreaterThan(0);
    expect(fromNmap[0]!.percent).toBeGreaterThanOrEqual(0);
    const [raw] = await t.store.query<{ sha256: string }>('select sha256 from raw_results where job_id = $1', [spec!.jobId]);
    expect(raw!.sha256).toBe(result.sha256);

    const outcome = await acts.ingestJob({ runId: plan.runId, jobId: spec!.jobId });
    expect(outcome).toMatchObject({ status: 'succeeded', hostsUp: 1, ports: 1, appeared: 1 });
    expect(await acts.ingestJob({ runId: plan.runId, jobId: spec!.jobId })).toEqual(outcome);
    const [obs] = await t.store.query<{ n: number }>(
      'select count(*)::int as n from port_observations join observation_sightings using (id) where last_job_id = $1',
      [spec!.jobId],
    );
    expect(Number(obs!.n)).toBe(1);
  }, 60_000);

  it('kills nmap when the activity is cancelled and reports a cancellation', async () => {
    const acts = make();
    const http = perimeter.service('http');
    const plan = await acts.planRun({
      kind: 'investigation',
      investigationId: 'inv_cancel',
      workflowId: `investigation:cancel-${kind}`,
      targets: [http.ip],
      tcpPorts: String(http.port),
      scripts: ['plum-banner'],
      requestedBy: 'test',
    });
    const [spec] = await acts.getJobSpecs({ runId: plan.runId, fromIndex: 0, count: 10 });
    // A unique script argument marks this nmap process; plum-banner would wait 60 s without the cancellation.
    const marker = `plum-banner.timeout=6${kind === 'pglite' ? 1 : 2}`;
    const job = { ...spec!, extraArgs: ['--script-args', marker] };
    const env = mockEnv();
    let sawNmap = false;
    env.on('heartbeat', (d: JobHeartbeat) => {
      if (!sawNmap && d.phase !== 'starting') {
        sawNmap = nmapRunningWith(marker);
        env.cancel();
      }
    });
    const started = Date.now();
    const err = await env.run(acts.runNmapJob, job).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CancelledFailure);
    expect(sawNmap).toBe(true);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(nmapRunningWith(marker)).toBe(false);
    // Nothing was delivered for the cancelled job.
    const raws = await t.store.query('select 1 from raw_results where job_id = $1', [spec!.jobId]);
    expect(raws).toHaveLength(0);
  }, 60_000);

  it('fails planning out-of-scope targets without retry, before anything is stored', async () => {
    const acts = make();
    const err = await mockEnv()
      .run(acts.planRun, {
        kind: 'investigation' as const,
        investigationId: 'inv_scope',
        workflowId: `investigation:scope-${kind}`,
        targets: ['127.250.250.250'],
        tcpPorts: '80',
        requestedBy: 'test',
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('out_of_scope');
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as ApplicationFailure).message).toMatch(/127\.250\.250\.250/);
    const runs = await t.store.query('select 1 from runs where workflow_id = $1', [`investigation:scope-${kind}`]);
    expect(runs).toHaveLength(0);
  });
});

describe('error mapping', () => {
  it('makes exactly the non-retryable PlumError codes non-retryable, in the workflow retry policy too', () => {
    const codes: ErrorCode[] = [
      'usage',
      'invalid_input',
      'syntax',
      'not_found',
      'conflict',
      'out_of_scope',
      'unsafe_argument',
      'parse_error',
      'truncated',
      'database',
      'locked',
      'nmap_failed',
      'scanner_failed',
      'timeout',
      'unauthorized',
      'forbidden',
      'payload_too_large',
      'rate_limited',
      'unavailable',
      'internal',
    ];
    for (const code of codes) {
      const f = toActivityFailure(new PlumError(code, 'x')) as ApplicationFailure;
      expect(f.type).toBe(code);
      expect(f.nonRetryable).toBe(!new PlumError(code, 'x').retryable);
      expect((NON_RETRYABLE_ERROR_TYPES as readonly string[]).includes(code)).toBe(f.nonRetryable);
    }
    expect(toActivityFailure(new PlumError('cancelled', 'stop'))).toBeInstanceOf(CancelledFailure);
    const internal = toActivityFailure(new Error('boom')) as ApplicationFailure;
    expect(internal.type).toBe('internal');
    expect(internal.nonRetryable).toBe(false);
  });
});
