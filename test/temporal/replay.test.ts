import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { initialState } from '../../workflows/logic/scan-run.ts';
import type { JobOutcome, JobSpec, NmapJobResult, PlannedRun, RunEvent, RunRequest, RunSummary } from '../../workflows/logic/types.ts';
import type { ScanWorkflowInput } from '../../workflows/temporal-run.ts';
import type { ReportWorkflowInput } from '../../workflows/report.ts';
import { LEGACY_BRIDGE_PATCH, NMAP_ACTIVITY_ID_PATCH } from '../../workflows/options.ts';
import { HistoryBuilder, heartbeatTimeoutFailure } from './history.ts';

/*
 * Replay tests: histories of the main paths, built with test/temporal/history.ts,
 * replayed by the real SDK replayer against the bundled workflows. A mismatch
 * between the commands the code issues and the recorded events fails with a
 * DeterminismViolationError; the interceptor in record-commands.ts and the
 * workflow's progress sink let the tests assert the commands and the outcome.
 */

const WORKFLOWS = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));
const RECORDER = fileURLToPath(new URL('./record-commands.ts', import.meta.url));
const SERVER_QUEUE = 'plum-server';
const SCAN_QUEUE = 'plum-scan';
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

let bundle: WorkflowBundleWithSourceMap;
let events: RunEvent[];
let activities: {
  type: string;
  activityId?: string;
  taskQueue?: string;
  priorityKey?: number;
  heartbeatTimeout?: unknown;
  startToCloseTimeout?: unknown;
  args: unknown[];
}[];
let continued: unknown[][];

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS, workflowInterceptorModules: [RECORDER], logger: quiet });
}, 120_000);

beforeEach(() => {
  events = [];
  activities = [];
  continued = [];
});

async function replay(h: HistoryBuilder): Promise<void> {
  await Worker.runReplayHistory(
    {
      workflowBundle: bundle,
      sinks: {
        progress: { event: { fn: (_info: unknown, e: RunEvent) => void events.push(e), callDuringReplay: true } },
        recorder: {
          activity: { fn: (_info: unknown, a: (typeof activities)[number]) => void activities.push(a), callDuringReplay: true },
          continued: { fn: (_info: unknown, args: unknown[]) => void continued.push(args), callDuringReplay: true },
        },
      } as never,
    },
    h.build(),
    h.workflowId,
  );
}

const plan = (over: Partial<PlannedRun> = {}): PlannedRun => ({
  runId: 'run_01jdreplay00000000000000000',
  kind: 'profile',
  profile: 'banner',
  priority: 2,
  jobCount: 3,
  addressCount: 600,
  targetCount: 2,
  resumed: false,
  ...over,
});
const spec = (index: number, p: PlannedRun): JobSpec => ({
  runId: p.runId,
  jobId: `job_${String(index).padStart(26, '0')}`,
  index,
  kind: 'ipv4',
  targets: [`127.0.${index}.0/24`],
  addressCount: 256,
  tcpPorts: '21,22,25,80,443',
  scripts: ['plum-banner'],
  extraArgs: [],
  hostTimeout: '40s',
  priority: p.priority,
});
const nmapResult = (s: JobSpec): NmapJobResult => ({
  runId: s.runId,
  jobId: s.jobId,
  sha256: 'ab'.repeat(32),
  size: 4096,
  exitCode: 0,
  interrupted: false,
  durationMs: 12_000,
  delivery: 'uploaded',
});
const outcome = (s: JobSpec, over: Partial<JobOutcome> = {}): JobOutcome => ({
  jobId: s.jobId,
  index: s.index,
  status: 'succeeded',
  hosts: 256,
  hostsUp: 3,
  ports: 5,
  appeared: 2,
  changed: 1,
  gone: 0,
  reappeared: 0,
  ...over,
});
const profileRequest = (workflowId: string): RunRequest => ({
  kind: 'profile',
  profile: 'banner',
  workflowId,
  scheduledFor: '2026-11-23T10:00:00Z',
  requestedBy: 'schedule',
});
const nmapOpts = (priorityKey: number) => ({ taskQueue: SCAN_QUEUE, heartbeatTimeout: '120s', startToCloseTimeout: '28800s', priorityKey });
const server = { taskQueue: SERVER_QUEUE };

/** planRun, then the search attribute/memo upsert and the first page of specs: the opening of every run. */
function opening(h: HistoryBuilder, p: PlannedRun, specs: JobSpec[]): void {
  h.workflowTask();
  const planSeq = h.scheduleActivity('planRun', server);
  h.completeActivity(planSeq, p).workflowTask();
  h.upsertSearchAttributes({ PlumJobCount: p.jobCount, PlumAddressCount: p.addressCount });
  h.upsertMemo({ runId: p.runId, jobs: p.jobCount, addresses: p.addressCount, targets: p.targetCount });
  const pageSeq = h.scheduleActivity('getJobSpecs', server);
  h.completeActivity(pageSeq, specs).workflowTask();
}

describe('replay: scanProfileWorkflow', () => {
  it('runs a three-job profile with two jobs in flight, in job order, and completes with the summed counters', async () => {
    const workflowId = 'profile:banner:2026-11-23T10:00:00Z';
    const input: ScanWorkflowInput = { state: initialState(profileRequest(workflowId)), limits: { maxInFlight: 2 } };
    const p = plan();
    const specs = [0, 1, 2].map((i) => spec(i, p));
    const h = new HistoryBuilder({ workflowType: 'scanProfileWorkflow', workflowId, taskQueue: SERVER_QUEUE, input: [input] });
    opening(h, p, specs);
    const n0 = h.scheduleActivity('runNmapJob', nmapOpts(3));
    const n1 = h.scheduleActivity('runNmapJob', nmapOpts(3));
    h.completeActivity(n0, nmapResult(specs[0]!)).workflowTask();
    const i0 = h.scheduleActivity('ingestJob', server);
    h.completeActivity(i0, outcome(specs[0]!)).workflowTask();
    const n2 = h.scheduleActivity('runNmapJob', nmapOpts(3)); // lane 1 moves on to job 2 while job 1 still scans
    h.completeActivity(n1, nmapResult(specs[1]!)).workflowTask();
    const i1 = h.scheduleActivity('ingestJob', server);
    h.completeActivity(n2, nmapResult(specs[2]!)).workflowTask();
    const i2 = h.scheduleActivity('ingestJob', server);
    h.completeActivity(i1, outcome(specs[1]!, { appeared: 0, changed: 0, gone: 1 })).workflowTask(); // lane 2 ends: no command
    h.completeActivity(i2, outcome(specs[2]!, { status: 'partial', error: 'truncated XML' })).workflowTask();
    const fin = h.scheduleActivity('finishRun', server);
    h.completeActivity(fin, null).workflowTask();
    h.completeWorkflow({});

    await replay(h);

    expect(activities.map((a) => `${a.type}@${a.taskQueue ?? SERVER_QUEUE}${a.priorityKey ? `/p${a.priorityKey}` : ''}`)).toEqual([
      'planRun@plum-server',
      'getJobSpecs@plum-server',
      'runNmapJob@plum-scan/p3',
      'runNmapJob@plum-scan/p3',
      'ingestJob@plum-server',
      'runNmapJob@plum-scan/p3',
      'ingestJob@plum-server',
      'ingestJob@plum-server',
      'finishRun@plum-server',
    ]);
    // Written before job-derived activity ids: the SDK's sequence numbers are kept on replay.
    expect(activities.filter((a) => a.type === 'runNmapJob').map((a) => a.activityId)).toEqual([undefined, undefined, undefined]);
    // Only ids and specs cross the activity boundary (claim check).
    expect(activities[2]!.args).toEqual([specs[0]]);
    expect(activities[4]!.args).toEqual([{ runId: p.runId, jobId: specs[0]!.jobId }]);
    expect(activities[1]!.args).toEqual([{ runId: p.runId, fromIndex: 0, count: 100 }]);
    const finish = activities[8]!.args[0] as { status: string; counters: Record<string, number> };
    expect(finish.status).toBe('partial');
    expect(finish.counters).toMatchObject({
      jobs: 3,
      jobsDone: 3,
      jobsPartial: 1,
      jobsFailed: 0,
      hosts: 768,
      hostsUp: 9,
      ports: 15,
      appeared: 4,
      changed: 2,
      gone: 1,
    });
    const summary = (events.at(-1) as { type: 'finished'; summary: RunSummary }).summary;
    expect(events.map((e) => e.type)).toEqual([
      'planned',
      'job-started',
      'job-started',
      'job-finished',
      'job-started',
      'job-finished',
      'job-finished',
      'finished',
    ]);
    expect(summary).toMatchObject({ runId: p.runId, workflowId, status: 'partial', profile: 'banner' });
  }, 60_000);

  it("names each job's nmap activity after its job once the patch marker is recorded, so a claim can be checked against it", async () => {
    const workflowId = 'profile:banner:2026-11-23T14:00:00Z';
    const input: ScanWorkflowInput = { state: initialState(profileRequest(workflowId)), limits: { maxInFlight: 2 } };
    const p = plan({ jobCount: 2, addressCount: 512 });
    const specs = [0, 1].map((i) => spec(i, p));
    const h = new HistoryBuilder({ workflowType: 'scanProfileWorkflow', workflowId, taskQueue: SERVER_QUEUE, input: [input] });
    opening(h, p, specs);
    // The first patched() call records the marker (once), just before the first job's activity is scheduled.
    h.patchMarker(NMAP_ACTIVITY_ID_PATCH);
    const n0 = h.scheduleActivity('runNmapJob', { ...nmapOpts(3), activityId: `nmap:${specs[0]!.jobId}` });
    const n1 = h.scheduleActivity('runNmapJob', { ...nmapOpts(3), activityId: `nmap:${specs[1]!.jobId}` });
    h.completeActivity(n0, nmapResult(specs[0]!)).workflowTask();
    const i0 = h.scheduleActivity('ingestJob', server);
    h.completeActivity(n1, nmapResult(specs[1]!), { attempt: 2, lastFailure: heartbeatTimeoutFailure() }).workflowTask();
    const i1 = h.scheduleActivity('ingestJob', server);
    h.completeActivity(i0, outcome(specs[0]!)).workflowTask();
    h.completeActivity(i1, outcome(specs[1]!)).workflowTask();
    const fin = h.scheduleActivity('finishRun', server);
    h.completeActivity(fin, null).workflowTask();
    h.completeWorkflow({});

    await replay(h);

    const nmap = activities.filter((a) => a.type === 'runNmapJob');
    expect(nmap.map((a) => a.activityId)).toEqual([`nmap:${specs[0]!.jobId}`, `nmap:${specs[1]!.jobId}`]);
    expect(nmap.map((a) => a.args)).toEqual([[specs[0]], [specs[1]]]);
    expect(activities.find((a) => a.type === 'ingestJob')!.activityId).toBeUndefined();
    const summary = (events.at(-1) as { type: 'finished'; summary: RunSummary }).summary;
    expect(summary).toMatchObject({ status: 'succeeded', counters: { jobs: 2, jobsDone: 2 } });
  }, 60_000);

  it('fails replay when the history does not match the code (determinism is really checked)', async () => {
    const workflowId = 'profile:banner:2026-11-23T11:00:00Z';
    const input: ScanWorkflowInput = { state: initialState(profileRequest(workflowId)) };
    const h = new HistoryBuilder({ workflowType: 'scanProfileWorkflow', workflowId, taskQueue: SERVER_QUEUE, input: [input] });
    h.workflowTask();
    const seq = h.scheduleActivity('planRun', server);
    h.completeActivity(seq, plan()).workflowTask();
    // The code records the plan in search attributes and memo, then fetches specs; this history scans at once.
    const wrong = h.scheduleActivity('runNmapJob', nmapOpts(3));
    h.completeActivity(wrong, null).workflowTask();
    await expect(replay(h)).rejects.toThrow(/[Nn]ondeterminis|DeterminismViolation/);
  }, 60_000);

  it('retries a job whose agent was lost (heartbeat timeout) and marks a job failed once its retries are spent', async () => {
    const workflowId = 'profile:banner:2026-11-23T12:00:00Z';
    const input: ScanWorkflowInput = { state: initialState(profileRequest(workflowId)), limits: { maxInFlight: 2 } };
    const p = plan({ jobCount: 2, addressCount: 512 });
    const specs = [0, 1].map((i) => spec(i, p));
    const h = new HistoryBuilder({ workflowType: 'scanProfileWorkflow', workflowId, taskQueue: SERVER_QUEUE, input: [input] });
    opening(h, p, specs);
    const n0 = h.scheduleActivity('runNmapJob', nmapOpts(3));
    const n1 = h.scheduleActivity('runNmapJob', nmapOpts(3));
    // Attempt 1 of job 0 died with its agent; attempt 2 ran on another agent and completed.
    h.completeActivity(n0, nmapResult(specs[0]!), { attempt: 2, lastFailure: heartbeatTimeoutFailure() }).workflowTask();
    const i0 = h.scheduleActivity('ingestJob', server);
    // Job 1 lost its agent on every attempt.
    h.timeOutActivity(n1, 'TIMEOUT_TYPE_HEARTBEAT', { attempt: 4 }).workflowTask();
    const f1 = h.scheduleActivity('failJob', server);
    h.completeActivity(i0, outcome(specs[0]!)).workflowTask();
    h.completeActivity(f1, null).workflowTask();
    const fin = h.scheduleActivity('finishRun', server);
    h.completeActivity(fin, null).workflowTask();
    h.completeWorkflow({});

    await replay(h);

    expect(activities.map((a) => a.type)).toEqual(['planRun', 'getJobSpecs', 'runNmapJob', 'runNmapJob', 'ingestJob', 'failJob', 'finishRun']);
    const fail = activities[5]!.args[0] as { jobId: string; error: string };
    expect(fail.jobId).toBe(specs[1]!.jobId);
    expect(fail.error).toMatch(/^job 1 \(127\.0\.1\.0\/24\): .*Heartbeat timeout/);
    const summary = (events.at(-1) as { type: 'finished'; summary: RunSummary }).summary;
    expect(summary.status).toBe('partial');
    expect(summary.counters).toMatchObject({ jobs: 2, jobsDone: 2, jobsFailed: 1, hostsUp: 3 });
  }, 60_000);

  it('continues as new after jobsPerExecution jobs, and the next execution finishes the run from the carried state', async () => {
    const workflowId = 'profile:banner:2026-11-23T13:00:00Z';
    const input: ScanWorkflowInput = { state: initialState(profileRequest(workflowId)), limits: { maxInFlight: 1, jobsPerExecution: 2 } };
    const p = plan();
    const specs = [0, 1, 2].map((i) => spec(i, p));
    const h = new HistoryBuilder({ workflowType: 'scanProfileWorkflow', workflowId, taskQueue: SERVER_QUEUE, input: [input] });
    opening(h, p, specs);
    for (const s of specs.slice(0, 2)) {
      const n = h.scheduleActivity('runNmapJob', nmapOpts(3));
      h.completeActivity(n, nmapResult(s)).workflowTask();
      const i = h.scheduleActivity('ingestJob', server);
      h.completeActivity(i, outcome(s)).workflowTask();
    }
    h.continueAsNew('scanProfileWorkflow', [input]);
    await replay(h);
    expect(continued).toHaveLength(1);
    const carried = continued[0]![0] as ScanWorkflowInput;
    expect(carried.state.nextIndex).toBe(2);
    expect(carried.state.plan).toEqual(p);
    expect(carried.state.counters).toMatchObject({ jobs: 3, jobsDone: 2, hostsUp: 6 });

    // The second execution: no planning again, the page holding job 2, then job 2 and the end.
    events = [];
    activities = [];
    const h2 = new HistoryBuilder({ workflowType: 'scanProfileWorkflow', workflowId, taskQueue: SERVER_QUEUE, input: [carried] });
    h2.workflowTask();
    const page = h2.scheduleActivity('getJobSpecs', server);
    h2.completeActivity(page, specs).workflowTask();
    const n = h2.scheduleActivity('runNmapJob', nmapOpts(3));
    h2.completeActivity(n, nmapResult(specs[2]!)).workflowTask();
    const i = h2.scheduleActivity('ingestJob', server);
    h2.completeActivity(i, outcome(specs[2]!)).workflowTask();
    const fin = h2.scheduleActivity('finishRun', server);
    h2.completeActivity(fin, null).workflowTask();
    h2.completeWorkflow({});
    await replay(h2);
    expect(activities.map((a) => a.type)).toEqual(['getJobSpecs', 'runNmapJob', 'ingestJob', 'finishRun']);
    const summary = (events.at(-1) as { type: 'finished'; summary: RunSummary }).summary;
    expect(summary.counters).toMatchObject({ jobs: 3, jobsDone: 3, hostsUp: 9, appeared: 6 });
    expect(summary.status).toBe('succeeded');
  }, 60_000);
});

describe('replay: investigationWorkflow', () => {
  it('plans, scans at the highest priority on the scan queue, ingests and finishes', async () => {
    const workflowId = 'investigation:inv_01jdreplay0000000000000000';
    const req: RunRequest = {
      kind: 'investigation',
      investigationId: 'inv_01jdreplay0000000000000000',
      workflowId,
      targets: ['127.0.0.2'],
      tcpPorts: '80,443',
      scripts: ['http-title'],
      reason: 'suspicious login page',
      requestedBy: 'cli',
    };
    const input: ScanWorkflowInput = { state: initialState(req) };
    const p = plan({ kind: 'investigation', profile: undefined, priority: 4, jobCount: 1, addressCount: 1, targetCount: 1 });
    delete p.profile;
    const s = { ...spec(0, p), targets: ['127.0.0.2'], addressCount: 1, tcpPorts: '80,443', scripts: ['http-title'] };
    const h = new HistoryBuilder({ workflowType: 'investigationWorkflow', workflowId, taskQueue: SERVER_QUEUE, input: [input] });
    opening(h, p, [s]);
    const n = h.scheduleActivity('runNmapJob', nmapOpts(1));
    h.completeActivity(n, nmapResult(s)).workflowTask();
    const i = h.scheduleActivity('ingestJob', server);
    h.completeActivity(i, outcome(s, { hosts: 1, hostsUp: 1, ports: 2, appeared: 2, changed: 0 })).workflowTask();
    const fin = h.scheduleActivity('finishRun', server);
    h.completeActivity(fin, null).workflowTask();
    h.completeWorkflow({});

    await replay(h);

    expect(activities[0]!.args).toEqual([req]);
    const nmap = activities.find((a) => a.type === 'runNmapJob')!;
    expect(nmap.taskQueue).toBe(SCAN_QUEUE);
    expect(nmap.priorityKey).toBe(1);
    const summary = (events.at(-1) as { type: 'finished'; summary: RunSummary }).summary;
    expect(summary).toMatchObject({ kind: 'investigation', workflowId, status: 'succeeded', counters: { appeared: 2, ports: 2 } });
  }, 60_000);
});

describe('replay: reportWorkflow', () => {
  it('runs the report definition through one server activity and completes with its summary', async () => {
    const workflowId = 'report:weekly-web-2026-11-23T00:00:00Z';
    const input: ReportWorkflowInput = { report: 'weekly-web' };
    const result = {
      report: 'weekly-web',
      status: 'ok',
      period: { from: '2026-11-16T00:00:00.000Z', to: '2026-11-23T00:00:00.000Z' },
      totals: {},
      deliveries: [],
    };
    const h = new HistoryBuilder({ workflowType: 'reportWorkflow', workflowId, taskQueue: SERVER_QUEUE, input: [input] });
    h.workflowTask();
    const seq = h.scheduleActivity('runReportDefinition', server);
    h.completeActivity(seq, result).workflowTask();
    h.completeWorkflow(result);

    await replay(h);
    // On the workflow's own (server) task queue, with the definition's name only.
    expect(activities).toEqual([expect.objectContaining({ type: 'runReportDefinition', taskQueue: undefined, args: ['weekly-web'] })]);
  }, 60_000);

  it('fails replay when the history does not run the report activity', async () => {
    const workflowId = 'report:weekly-web-2026-11-24T00:00:00Z';
    const h = new HistoryBuilder({ workflowType: 'reportWorkflow', workflowId, taskQueue: SERVER_QUEUE, input: [{ report: 'weekly-web' }] });
    h.workflowTask();
    h.upsertMemo({ report: 'weekly-web' });
    h.completeWorkflow(null);
    await expect(replay(h)).rejects.toThrow(/[Nn]ondeterminis|DeterminismViolation/);
  }, 60_000);
});

describe("replay: a run bridged to the predecessor's agents", () => {
  const legacyOpts = (jobId: string) => ({ taskQueue: `${SCAN_QUEUE}-legacy`, startToCloseTimeout: '6s', priorityKey: 3, activityId: `nmap:${jobId}` });

  it('routes each TCP job, sends one to the legacy queue without a heartbeat timeout and the other to the scan queue', async () => {
    const workflowId = 'profile:banner:2026-12-06T10:00:00Z';
    const input: ScanWorkflowInput = { state: initialState(profileRequest(workflowId)), limits: { maxInFlight: 2 } };
    const p = plan({ jobCount: 2, addressCount: 512, legacyBridge: true });
    const specs = [0, 1].map((i) => spec(i, p));
    const h = new HistoryBuilder({ workflowType: 'scanProfileWorkflow', workflowId, taskQueue: SERVER_QUEUE, input: [input] });
    opening(h, p, specs);
    h.patchMarker(NMAP_ACTIVITY_ID_PATCH).patchMarker(LEGACY_BRIDGE_PATCH);
    const r0 = h.scheduleActivity('routeNmapJob', server);
    const r1 = h.scheduleActivity('routeNmapJob', server);
    h.completeActivity(r0, { legacy: true, timeoutSeconds: 6 }).completeActivity(r1, { legacy: false, timeoutSeconds: 6 }).workflowTask();
    const n0 = h.scheduleActivity('runNmapJob', legacyOpts(specs[0]!.jobId));
    const n1 = h.scheduleActivity('runNmapJob', { ...nmapOpts(3), activityId: `nmap:${specs[1]!.jobId}` });
    // The legacy attempt 1 timed out (a silent agent); attempt 2 was completed by another agent's result.
    h.completeActivity(n0, nmapResult(specs[0]!), {
      attempt: 2,
      lastFailure: { message: 'activity StartToClose timeout', timeoutFailureInfo: { timeoutType: 'TIMEOUT_TYPE_START_TO_CLOSE' } },
    });
    h.completeActivity(n1, nmapResult(specs[1]!)).workflowTask();
    const i0 = h.scheduleActivity('ingestJob', server);
    const i1 = h.scheduleActivity('ingestJob', server);
    h.completeActivity(i0, outcome(specs[0]!)).completeActivity(i1, outcome(specs[1]!)).workflowTask();
    const fin = h.scheduleActivity('finishRun', server);
    h.completeActivity(fin, null).workflowTask();
    h.completeWorkflow({});

    await replay(h);

    expect(activities.map((a) => `${a.type}@${a.taskQueue ?? SERVER_QUEUE}`)).toEqual([
      'planRun@plum-server',
      'getJobSpecs@plum-server',
      'routeNmapJob@plum-server',
      'routeNmapJob@plum-server',
      'runNmapJob@plum-scan-legacy',
      'runNmapJob@plum-scan',
      'ingestJob@plum-server',
      'ingestJob@plum-server',
      'finishRun@plum-server',
    ]);
    expect(activities[2]!.args).toEqual([{ runId: p.runId, jobId: specs[0]!.jobId }]);
    const [legacy, agents] = activities.filter((a) => a.type === 'runNmapJob');
    expect(legacy).toMatchObject({
      activityId: `nmap:${specs[0]!.jobId}`,
      priorityKey: 3,
      heartbeatTimeout: undefined,
      startToCloseTimeout: '6s',
      args: [specs[0]],
    });
    expect(agents).toMatchObject({ activityId: `nmap:${specs[1]!.jobId}`, heartbeatTimeout: '2m', startToCloseTimeout: '8h' });
    expect((events.at(-1) as { type: 'finished'; summary: RunSummary }).summary).toMatchObject({ status: 'succeeded', counters: { jobs: 2, jobsDone: 2 } });
  }, 60_000);

  it("never routes a job with UDP ports: the predecessor's agents scan TCP only", async () => {
    const workflowId = 'profile:banner:2026-12-06T11:00:00Z';
    const input: ScanWorkflowInput = { state: initialState(profileRequest(workflowId)) };
    const p = plan({ jobCount: 1, addressCount: 256, legacyBridge: true });
    const specs = [{ ...spec(0, p), udpPorts: '53,161' }];
    const h = new HistoryBuilder({ workflowType: 'scanProfileWorkflow', workflowId, taskQueue: SERVER_QUEUE, input: [input] });
    opening(h, p, specs);
    h.patchMarker(NMAP_ACTIVITY_ID_PATCH);
    const n0 = h.scheduleActivity('runNmapJob', { ...nmapOpts(3), activityId: `nmap:${specs[0]!.jobId}` });
    h.completeActivity(n0, nmapResult(specs[0]!)).workflowTask();
    const i0 = h.scheduleActivity('ingestJob', server);
    h.completeActivity(i0, outcome(specs[0]!)).workflowTask();
    const fin = h.scheduleActivity('finishRun', server);
    h.completeActivity(fin, null).workflowTask();
    h.completeWorkflow({});

    await replay(h);

    expect(activities.map((a) => `${a.type}@${a.taskQueue ?? SERVER_QUEUE}`)).toEqual([
      'planRun@plum-server',
      'getJobSpecs@plum-server',
      'runNmapJob@plum-scan',
      'ingestJob@plum-server',
      'finishRun@plum-server',
    ]);
  }, 60_000);

  it('replays a bridged run whose first job was scheduled before the routing patch, and routes the jobs after it', async () => {
    // A worker without the bridge scheduled job 0; the upgraded worker that took over routes job 1.
    const workflowId = 'profile:banner:2026-12-06T12:00:00Z';
    const input: ScanWorkflowInput = { state: initialState(profileRequest(workflowId)), limits: { maxInFlight: 1 } };
    const p = plan({ jobCount: 2, addressCount: 512, legacyBridge: true });
    const specs = [0, 1].map((i) => spec(i, p));
    const h = new HistoryBuilder({ workflowType: 'scanProfileWorkflow', workflowId, taskQueue: SERVER_QUEUE, input: [input] });
    opening(h, p, specs);
    h.patchMarker(NMAP_ACTIVITY_ID_PATCH);
    const n0 = h.scheduleActivity('runNmapJob', { ...nmapOpts(3), activityId: `nmap:${specs[0]!.jobId}` });
    h.completeActivity(n0, nmapResult(specs[0]!)).workflowTask();
    const i0 = h.scheduleActivity('ingestJob', server);
    h.completeActivity(i0, outcome(specs[0]!)).workflowTask();
    h.patchMarker(LEGACY_BRIDGE_PATCH);
    const r1 = h.scheduleActivity('routeNmapJob', server);
    h.completeActivity(r1, { legacy: true, timeoutSeconds: 6 }).workflowTask();
    const n1 = h.scheduleActivity('runNmapJob', legacyOpts(specs[1]!.jobId));
    h.completeActivity(n1, nmapResult(specs[1]!)).workflowTask();
    const i1 = h.scheduleActivity('ingestJob', server);
    h.completeActivity(i1, outcome(specs[1]!)).workflowTask();
    const fin = h.scheduleActivity('finishRun', server);
    h.completeActivity(fin, null).workflowTask();
    h.completeWorkflow({});

    await replay(h);

    expect(activities.map((a) => `${a.type}@${a.taskQueue ?? SERVER_QUEUE}`)).toEqual([
      'planRun@plum-server',
      'getJobSpecs@plum-server',
      'runNmapJob@plum-scan',
      'ingestJob@plum-server',
      'routeNmapJob@plum-server',
      'runNmapJob@plum-scan-legacy',
      'ingestJob@plum-server',
      'finishRun@plum-server',
    ]);
  }, 60_000);
});
