import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../activities/index.ts';
import { storeResultSink } from '../activities/result-sinks.ts';
import { createScoutActivities } from '../activities/scouting.ts';
import { createLogger, silentLogger } from '../core/log.ts';
import { saveProfile } from '../store/repos/profiles.ts';
import { addTargets, listTargets, removeTargets } from '../store/repos/targets.ts';
import type { JobSpec } from '../workflows/logic/types.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';
import { masscanSweepXml, unfinished, withHostCopied, withoutPort } from './helpers/masscan-xml.ts';

/*
 * The server-side activities of a two-stage run against a real store: the scouting jobs' masscan output is
 * delivered as the result sink stores it and ingested into the masscan view, then the nmap stage is planned.
 * The output is real masscan -oX output edited line by line (test/helpers/masscan-xml.ts); nothing is scanned.
 */

const SWEEP = masscanSweepXml();
/** A third host, 198.18.0.4, answering where 198.18.0.3 does. */
const withThirdHost = withHostCopied(SWEEP, '198.18.0.3', '198.18.0.4');
/** A sweep that saw 22 and 8080 only. */
const without80 = withoutPort(SWEEP, 80);

describe.each(storeKinds)('the activities of a two-stage run (%s)', (kind) => {
  let t: TestStore;
  const warnings: Array<{ msg: string; [k: string]: unknown }> = [];
  let runs = 0;
  beforeAll(async () => {
    t = await openTestStore(kind);
    await resetPerimeter();
    await saveProfile(t.store, { name: 'wide', tcpPorts: '22,80,8080', scouting: { rate: 1000 } });
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const log = createLogger('warn', 'test', { write: (l: string) => void warnings.push(JSON.parse(l) as { msg: string }) });
  const acts = () => createActivities({ log, store: t.store, runnerName: 'test', maxJobSize: 16 });

  /** A new run of the profile, and its scouting job with `output` delivered as the result sink stores it. */
  async function scoutedRun(output: string): Promise<{ runId: string; scout: JobSpec }> {
    const plan = await acts().planRun({ kind: 'profile', profile: 'wide', workflowId: `profile:wide:${++runs}`, requestedBy: 'test' });
    expect(plan.scoutJobs).toBe(1);
    const [scout] = await acts().getJobSpecs({ runId: plan.runId, fromIndex: 0, count: 10 });
    expect(scout!.scout).toBeDefined();
    const bytes = Buffer.from(output);
    await storeResultSink(t.store).deliver(scout!, bytes, createHash('sha256').update(bytes).digest('hex'));
    return { runId: plan.runId, scout: scout! };
  }

  /** Back to the perimeter the other tests plan from, whatever a test left. */
  async function resetPerimeter() {
    const values = (await listTargets(t.store)).map((x) => x.value);
    if (values.length > 0) await removeTargets(t.store, values);
    await addTargets(t.store, ['198.18.0.0/29']);
  }

  const scanJobs = (runId: string) =>
    t.store.query<{ targets: string[]; tcp_ports: string }>(`select targets, tcp_ports from jobs where run_id = $1 and stage = 'scan' order by index`, [runId]);

  describe('planScanStage re-checks the perimeter', () => {
    it('plans nmap on every answering address while the perimeter is unchanged', async () => {
      const { runId, scout } = await scoutedRun(withThirdHost);
      expect(scout.targets).toEqual(['198.18.0.0-7']);
      expect(await acts().ingestJob({ runId, jobId: scout.jobId })).toMatchObject({ status: 'succeeded', hostsUp: 3, ports: 9 });
      expect(await acts().planScanStage({ runId })).toEqual({ jobCount: 2, addressCount: 11 });
      expect(await scanJobs(runId)).toEqual([{ targets: ['198.18.0.2', '198.18.0.3', '198.18.0.4'], tcp_ports: '22,80,8080' }]);
    });

    it('leaves out an address excluded, and one no longer declared, since the run was planned, and says so', async () => {
      const { runId, scout } = await scoutedRun(withThirdHost);
      await acts().ingestJob({ runId, jobId: scout.jobId });
      try {
        // While the sweep ran: an operator excluded one host and narrowed the range, leaving another outside.
        await addTargets(t.store, ['198.18.0.3'], { exclude: true });
        await removeTargets(t.store, ['198.18.0.0/29']);
        await addTargets(t.store, ['198.18.0.0/30']);
        warnings.length = 0;
        const dropped = { count: 2, addresses: ['198.18.0.3', '198.18.0.4'] };
        expect(await acts().planScanStage({ runId })).toEqual({ jobCount: 2, addressCount: 9, dropped });
        expect(await scanJobs(runId)).toEqual([{ targets: ['198.18.0.2'], tcp_ports: '22,80,8080' }]);
        const warned = warnings.find((w) => /get no nmap job/.test(w.msg));
        expect(warned).toMatchObject({
          runId,
          dropped: 2,
          sample: [
            { address: '198.18.0.3', reason: 'excluded' },
            { address: '198.18.0.4', reason: 'outside_perimeter' },
          ],
        });
        // A retried activity finds the stage planned: the same jobs and the same drop, whatever the perimeter says now.
        await resetPerimeter();
        expect(await acts().planScanStage({ runId })).toEqual({ jobCount: 2, addressCount: 9, dropped });
        expect(await scanJobs(runId)).toEqual([{ targets: ['198.18.0.2'], tcp_ports: '22,80,8080' }]);
      } finally {
        await resetPerimeter();
      }
    });
  });

  describe('an interrupted scouting job declares nothing gone', () => {
    const scout = () =>
      createScoutActivities({
        log: silentLogger,
        store: t.store,
        now: () => new Date(),
        ctx: () => ({ heartbeat() {}, signal: new AbortController().signal, attempt: 1 }),
        sink: () => storeResultSink(t.store),
      });
    const jobRow = (s: JobSpec) => ({ id: s.jobId, run_id: s.runId, index: s.index, targets: s.targets, tcp_ports: s.tcpPorts });
    const gone = () =>
      t.store.query<{ ip: string; port: number }>(
        `select host(o.ip) as ip, o.port from observation_events e join port_observations o on o.id = e.observation_id
         where e.type = 'gone' and o.view = 'masscan' order by 1, 2`,
      );
    const job = (id: string) => t.store.query<{ status: string; error: string | null }>('select status, error from jobs where id = $1', [id]).then((r) => r[0]);
    const open80 = () =>
      t.store.query<{ ip: string }>(
        `select host(ip) as ip from port_observations where view = 'masscan' and port = 80 and current and state = 'open' and host(ip) in ('198.18.0.2', '198.18.0.3') order by 1`,
      );

    it('neither when stopped (interrupted) nor when its output is cut; a complete scan then declares the missing port gone', async () => {
      expect(await gone()).toEqual([]);
      // A complete sweep that saw 22, 80 and 8080 on both hosts.
      const full = await scoutedRun(SWEEP);
      expect(await scout().ingestScoutJob(jobRow(full.scout), false)).toMatchObject({ status: 'succeeded', gone: 0 });
      expect(await open80()).toEqual([{ ip: '198.18.0.2' }, { ip: '198.18.0.3' }]);

      // Stopped at its time limit after seeing 22 and 8080 only.
      const stopped = await scoutedRun(without80);
      const outcome = await scout().ingestScoutJob(jobRow(stopped.scout), true);
      expect(outcome).toMatchObject({ status: 'partial', gone: 0, ports: 4 });
      expect(outcome.error).toMatch(/scouting job 0 was stopped before its end: what it found is kept, nothing is declared gone/);
      expect(await job(stopped.scout.jobId)).toMatchObject({ status: 'partial', error: outcome.error });
      expect(await gone()).toEqual([]);
      expect(await open80()).toEqual([{ ip: '198.18.0.2' }, { ip: '198.18.0.3' }]);

      // The file of a masscan that was killed: not marked interrupted, but it lacks masscan's closing records.
      const cut = await scoutedRun(unfinished(without80));
      const cutOutcome = await scout().ingestScoutJob(jobRow(cut.scout), false);
      expect(cutOutcome).toMatchObject({ status: 'partial', gone: 0, ports: 4 });
      expect(cutOutcome.error).toMatch(/nothing is declared gone/);
      expect(await job(cut.scout.jobId)).toMatchObject({ status: 'partial' });
      expect(await gone()).toEqual([]);

      // The same scan, complete: port 80 is gone on both hosts, and only port 80.
      const complete = await scoutedRun(without80);
      expect(await scout().ingestScoutJob(jobRow(complete.scout), false)).toMatchObject({ status: 'succeeded', gone: 2 });
      expect(await job(complete.scout.jobId)).toMatchObject({ status: 'succeeded', error: null });
      expect(await gone()).toEqual([
        { ip: '198.18.0.2', port: 80 },
        { ip: '198.18.0.3', port: 80 },
      ]);
      expect(await open80()).toEqual([]);
    });
  });
});
