/*
 * Orchestration benchmark: a 2,000,000-address profile run.
 *   npx tsx bench/orchestration.ts [--drivers pglite,postgres] [--jobs-per-execution 500]
 *
 * 1. planRun: scope, planning and storing ~8,000 jobs (both drivers), then
 *    paging every job spec as the workflow does. Nothing is scanned.
 * 2. Temporal history: one workflow execution of `jobsPerExecution` jobs is
 *    built with the replay-test history builder and replayed by the real SDK;
 *    prints its event count and size against Temporal's limits (50,000 events,
 *    50 MB), and the executions a 2M run needs (continue-as-new).
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import { silentLogger } from '../core/log.ts';
import { saveProfile } from '../store/repos/profiles.ts';
import { addTargets } from '../store/repos/targets.ts';
import { openTestStore, type StoreKindName } from '../test/helpers/db.ts';
import { HistoryBuilder } from '../test/temporal/history.ts';
import { initialState } from '../workflows/logic/scan-run.ts';
import type { JobSpec, PlannedRun } from '../workflows/logic/types.ts';

const { values } = parseArgs({
  options: { drivers: { type: 'string', default: 'pglite,postgres' }, 'jobs-per-execution': { type: 'string', default: '500' } },
});
const drivers = values.drivers!.split(',') as StoreKindName[];
const perExecution = Number(values['jobs-per-execution']);
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

console.log('Plum orchestration benchmark');
let plannedJobs = 0;
for (const kind of drivers) {
  const t = await openTestStore(kind);
  try {
    // 2,097,152 addresses, planned only (127.0.0.0/8: nothing leaves the machine even by mistake).
    await addTargets(t.store, ['127.0.0.0/11']);
    await saveProfile(t.store, { name: 'big', tcpPorts: '22,80,443', scripts: 'plum-banner' });
    const acts = createActivities({ log: silentLogger, store: t.store });
    let t0 = performance.now();
    const plan = await acts.planRun({ kind: 'profile', profile: 'big', workflowId: 'profile:big:bench', requestedBy: 'bench' });
    const planMs = performance.now() - t0;
    plannedJobs = plan.jobCount;
    t0 = performance.now();
    let n = 0;
    for (let from = 0; from < plan.jobCount; from += 100) n += (await acts.getJobSpecs({ runId: plan.runId, fromIndex: from, count: 100 })).length;
    const pageMs = performance.now() - t0;
    t0 = performance.now();
    const again = await acts.planRun({ kind: 'profile', profile: 'big', workflowId: 'profile:big:bench', requestedBy: 'bench' });
    const resumeMs = performance.now() - t0;
    console.log(
      `[${kind}] planRun ${plan.addressCount.toLocaleString('en')} addresses -> ${plan.jobCount} jobs stored in ${fmt(planMs)}; ` +
        `all ${n} specs paged (100/page) in ${fmt(pageMs)}; idempotent re-plan ${again.resumed ? 'found the run' : 'DID NOT find the run'} in ${resumeMs.toFixed(0)} ms`,
    );
  } finally {
    await t.cleanup();
  }
}

// Temporal history of one execution.
Runtime.install({ logger: new DefaultLogger('ERROR') });
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const bundle = await bundleWorkflowCode({ workflowsPath: fileURLToPath(new URL('../workflows/index.ts', import.meta.url)), logger: quiet });
const jobs = Math.max(plannedJobs, 8192);
const plan: PlannedRun = {
  runId: 'run_bench',
  kind: 'profile',
  profile: 'big',
  priority: 2,
  jobCount: jobs,
  addressCount: jobs * 256,
  targetCount: 1,
  resumed: false,
};
const input = {
  state: initialState({ kind: 'profile', profile: 'big', workflowId: 'profile:big:bench', requestedBy: 'bench' }),
  limits: { maxInFlight: 1, jobsPerExecution: perExecution },
};
const h = new HistoryBuilder({ workflowType: 'scanProfileWorkflow', workflowId: 'profile:big:bench', taskQueue: 'plum-server', input: [input] });
h.workflowTask();
h.completeActivity(h.scheduleActivity('planRun', { taskQueue: 'plum-server' }), plan).workflowTask();
h.upsertSearchAttributes({ PlumJobCount: plan.jobCount, PlumAddressCount: plan.addressCount });
h.upsertMemo({ runId: plan.runId, jobs: plan.jobCount, addresses: plan.addressCount, targets: 1 });
const spec = (i: number): JobSpec => ({
  runId: plan.runId,
  jobId: `job_${String(i).padStart(26, '0')}`,
  index: i,
  kind: 'ipv4',
  targets: [`127.${i >> 8}.${i & 255}.0/24`],
  addressCount: 256,
  tcpPorts: '22,80,443',
  scripts: ['plum-banner'],
  extraArgs: [],
  hostTimeout: '40s',
  priority: 2,
});
for (let i = 0; i < perExecution; i++) {
  if (i % 100 === 0) {
    h.completeActivity(
      h.scheduleActivity('getJobSpecs', { taskQueue: 'plum-server' }),
      Array.from({ length: 100 }, (_, k) => spec(i + k)),
    ).workflowTask();
  }
  const s = spec(i);
  h.completeActivity(h.scheduleActivity('runNmapJob', { taskQueue: 'plum-scan', priorityKey: 3 }), {
    runId: s.runId,
    jobId: s.jobId,
    sha256: 'ab'.repeat(32),
    size: 400_000,
    exitCode: 0,
    interrupted: false,
    durationMs: 60_000,
    delivery: 'uploaded',
  }).workflowTask();
  h.completeActivity(h.scheduleActivity('ingestJob', { taskQueue: 'plum-server' }), {
    jobId: s.jobId,
    index: i,
    status: 'succeeded',
    hosts: 256,
    hostsUp: 40,
    ports: 90,
    appeared: 1,
    changed: 2,
    gone: 0,
    reappeared: 0,
  }).workflowTask();
}
h.continueAsNew('scanProfileWorkflow', [input]);
const json = JSON.stringify(h.toJSON());
const t0 = performance.now();
await Worker.runReplayHistory({ workflowBundle: bundle, sinks: { progress: { event: { fn() {} } } } as never }, h.build(), h.workflowId);
const replayMs = performance.now() - t0;
const executions = Math.ceil(jobs / perExecution);
console.log(
  `[temporal] one execution of ${perExecution} jobs: ${h.events.length} events, ${(json.length / 1e6).toFixed(2)} MB of JSON history ` +
    `(limits 50,000 events / 50 MB); replayed in ${fmt(replayMs)}; a ${jobs}-job run = ${executions} executions via continue-as-new`,
);
