import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { newId } from '../core/ids.ts';
import { beaconLegacyAgent, claimLegacyJob, createLegacyKey } from '../store/repos/legacy-agents.ts';
import { bridgedJobs, cancelBridgedJob, holdJobForLegacy, releaseBridgeToken, routeJobForBridge } from '../store/repos/legacy-bridge.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';

/*
 * The bridge's rows (store/repos/legacy-bridge.ts) on both stores: what a
 * routed job looks like to getjob before and after the bridge holds its
 * attempt, what a new attempt does to a claim, and which token an update
 * may touch. The Temporal side is tested in test/temporal-legacy-bridge.test.ts.
 */

const UID_A = '3f1c0d7e-5b2a-4c8e-9d61-0000000000a1';
const UID_B = '3f1c0d7e-5b2a-4c8e-9d61-0000000000b2';
const seen = { legacySeconds: 60, plumSeconds: 180 };
const token = (n: number) => Buffer.from(`token-of-attempt-${n}-${'x'.repeat(40)}`);

describe.each(storeKinds)('legacy bridge rows (%s)', (kind) => {
  let t: TestStore;
  let jobId: string;

  beforeAll(async () => {
    t = await openTestStore(kind);
    const { id } = await createLegacyKey(t.store);
    for (const uid of [UID_A, UID_B]) {
      await beaconLegacyAgent(t.store, id, { uid, deviceModel: 'CPython 3.12.3', agentVersion: '1.4.0', systemVersion: 'Linux', extIp: '127.0.0.1' });
    }
  }, 120_000);
  afterAll(async () => {
    await t?.cleanup();
  });
  beforeEach(async () => {
    await t.store.query('delete from jobs');
    const runId = newId('run');
    jobId = newId('job');
    await t.store.query(`insert into runs (id, kind, status, progress) values ($1, 'profile', 'running', '{"priority": 2}'::jsonb)`, [runId]);
    await t.store.query(`insert into jobs (id, run_id, index, targets, tcp_ports, status) values ($1, $2, 0, '{127.0.0.1}', '22', 'queued')`, [jobId, runId]);
  });

  const row = async () =>
    (
      await t.store.query<{ status: string; agent: string | null; legacy_attempt: number | null; held: boolean }>(
        'select status, agent, legacy_attempt, legacy_task_token is not null as held from jobs where id = $1',
        [jobId],
      )
    )[0];

  it('a routed job counts as waiting at once, but getjob hands it out only once the bridge holds its attempt', async () => {
    const counts: unknown[] = [];
    expect(await routeJobForBridge(t.store, jobId, seen, (c) => (counts.push(c), true))).toBe(true);
    expect(counts).toEqual([{ udp: false, legacyAgents: 2, legacyWaiting: 0, plumAgents: 0 }]);
    // The next routing sees it waiting.
    await routeJobForBridge(t.store, jobId, seen, (c) => (counts.push(c), false));
    expect(counts[1]).toMatchObject({ legacyWaiting: 1 });
    expect(await claimLegacyJob(t.store, UID_A, 60)).toBeUndefined();
    expect(await holdJobForLegacy(t.store, jobId, token(1), 1)).toEqual({ kind: 'held' });
    expect((await claimLegacyJob(t.store, UID_A, 60))?.id).toBe(jobId);
    expect(await row()).toEqual({ status: 'running', agent: `legacy:${UID_A}`, legacy_attempt: 1, held: true });
  });

  it("a job routed to Plum's agents is not marked, and does not count as waiting for the predecessor's", async () => {
    expect(await routeJobForBridge(t.store, jobId, seen, () => false)).toBe(false);
    const [marked] = await t.store.query<{ executor: string | null }>(`select progress->>'executor' as executor from jobs where id = $1`, [jobId]);
    expect(marked).toEqual({ executor: null });
    const counts: unknown[] = [];
    await routeJobForBridge(t.store, jobId, seen, (c) => (counts.push(c), false));
    expect(counts).toEqual([expect.objectContaining({ legacyWaiting: 0 })]);
  });

  it('a later attempt resets the claim and replaces the token; a repeat of the same attempt keeps the claim', async () => {
    await routeJobForBridge(t.store, jobId, seen, () => true);
    await holdJobForLegacy(t.store, jobId, token(1), 1);
    await claimLegacyJob(t.store, UID_A, 60);
    expect(await holdJobForLegacy(t.store, jobId, token(1), 1)).toEqual({ kind: 'held' });
    expect(await row()).toMatchObject({ agent: `legacy:${UID_A}`, status: 'running' });
    expect(await holdJobForLegacy(t.store, jobId, token(2), 2)).toEqual({ kind: 'held' });
    expect(await row()).toEqual({ status: 'queued', agent: null, legacy_attempt: 2, held: true });
    expect((await bridgedJobs(t.store)).map((j) => j.token.toString())).toEqual([token(2).toString()]);
    // An older attempt changes nothing.
    expect(await holdJobForLegacy(t.store, jobId, token(1), 1)).toEqual({ kind: 'gone' });
    expect((await claimLegacyJob(t.store, UID_B, 60))?.id).toBe(jobId);
  });

  it("a bridged job is not released by getjob's own timeout: Temporal's attempt timeout does it", async () => {
    await routeJobForBridge(t.store, jobId, seen, () => true);
    await holdJobForLegacy(t.store, jobId, token(1), 1);
    await claimLegacyJob(t.store, UID_A, 60);
    await t.store.query(`update jobs set started_at = now() - interval '1 hour' where id = $1`, [jobId]);
    expect(await claimLegacyJob(t.store, UID_B, 60)).toBeUndefined();
    expect(await row()).toMatchObject({ agent: `legacy:${UID_A}`, status: 'running' });
  });

  it('an ingested or cancelled job is not held again, and only the stored token is released or cancelled', async () => {
    await routeJobForBridge(t.store, jobId, seen, () => true);
    await holdJobForLegacy(t.store, jobId, token(2), 2);
    await releaseBridgeToken(t.store, jobId, token(1));
    await cancelBridgedJob(t.store, jobId, token(1));
    expect(await row()).toMatchObject({ status: 'queued', held: true });
    await cancelBridgedJob(t.store, jobId, token(2));
    expect(await row()).toMatchObject({ status: 'cancelled', held: false });
    expect(await holdJobForLegacy(t.store, jobId, token(3), 3)).toEqual({ kind: 'cancelled' });
    await t.store.query(`update jobs set status = 'succeeded', ingested_at = now(), result_sha256 = $2 where id = $1`, [jobId, 'ab'.repeat(32)]);
    expect(await holdJobForLegacy(t.store, jobId, token(4), 4)).toMatchObject({ kind: 'ingested', sha256: 'ab'.repeat(32) });
  });
});
