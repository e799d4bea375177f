import {
  CancellationScope,
  defineQuery,
  makeContinueAsNewFunc,
  isCancellation,
  patched,
  proxyActivities,
  proxySinks,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  type Sinks,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { DEFAULT_LIMITS, executeScanRun, priorityKey, type RunLimits } from './logic/scan-run.ts';
import type { JobSpec, LegacyRouteActivities, RunCounters, RunEvent, RunState, RunSummary, ScanActivities } from './logic/types.ts';
import {
  DEFAULT_SCAN_TASK_QUEUE,
  LEGACY_BRIDGE_PATCH,
  scoutActivityId,
  legacyNmapActivityOptions,
  legacyQueueOf,
  NMAP_ACTIVITY_ID_PATCH,
  nmapActivityId,
  nmapActivityOptions,
  SERVER_ACTIVITY_OPTIONS,
  type NmapTimingOverrides,
} from './options.ts';

/*
 * The Temporal binding of the shared run logic (workflows/logic/scan-run.ts).
 * Thin on purpose: it maps RunEnv onto proxyActivities, Temporal cancellation,
 * continue-as-new, search attributes, memo and sinks. Activities are seen only
 * as types.
 */

export interface ScanWorkflowInput {
  state: RunState;
  /** Task queue the agents poll; default `plum-scan`. */
  scanTaskQueue?: string;
  /**
   * When set (investigations), the nmap jobs go to this queue instead: the agents' reserved urgent slot
   * (options.ts urgentQueueOf). Absent from histories written before it existed, which replay unchanged.
   */
  urgentScanTaskQueue?: string;
  limits?: Partial<RunLimits>;
  /** The deployment's heartbeat timeout and retry interval of the nmap activity (default: NMAP_ACTIVITY_OPTIONS). */
  nmapTiming?: NmapTimingOverrides;
}

/** Sinks let tests (replay) and the worker's logger observe progress without side effects in the workflow. */
export interface PlumSinks extends Sinks {
  progress: { event(e: RunEvent): void };
}

/** What a run's workflow answers to the progress query; `stage` only for a two-stage profile's run. */
export interface RunProgress {
  runId?: string;
  nextIndex: number;
  counters: RunCounters;
  stage?: 'scout' | 'scan';
}
export const progressQuery = defineQuery<RunProgress>('progress');

export const SA_RUN_KIND = defineSearchAttributeKey('PlumRunKind', SearchAttributeType.KEYWORD);
export const SA_PROFILE = defineSearchAttributeKey('PlumProfile', SearchAttributeType.KEYWORD);
export const SA_PRIORITY = defineSearchAttributeKey('PlumPriority', SearchAttributeType.INT);
export const SA_JOB_COUNT = defineSearchAttributeKey('PlumJobCount', SearchAttributeType.INT);
export const SA_ADDRESS_COUNT = defineSearchAttributeKey('PlumAddressCount', SearchAttributeType.INT);

const server = proxyActivities<ScanActivities>(SERVER_ACTIVITY_OPTIONS);
const bridge = proxyActivities<LegacyRouteActivities>(SERVER_ACTIVITY_OPTIONS);
const { progress } = proxySinks<PlumSinks>();

export async function runOnTemporal(input: ScanWorkflowInput): Promise<RunSummary> {
  const info = workflowInfo();
  const state = input.state;
  // Schedules choose the workflow id (and scheduled time): the request takes them from Temporal.
  if (!state.request.workflowId) state.request.workflowId = info.workflowId;
  setHandler(progressQuery, () => ({
    runId: state.plan?.runId,
    nextIndex: state.nextIndex,
    counters: state.counters,
    ...(state.stage ? { stage: state.stage } : {}),
  }));

  const scanQueue = input.urgentScanTaskQueue ?? input.scanTaskQueue ?? DEFAULT_SCAN_TASK_QUEUE;
  // Per-priority options: an urgent investigation overtakes background cycles on the agents' queue.
  const nmapOptions = (priority: number) => ({
    ...nmapActivityOptions(input.nmapTiming),
    taskQueue: scanQueue,
    priority: { priorityKey: priorityKey(priority) },
  });
  const legacyProxies = new Map<number, ScanActivities['runNmapJob']>();
  const runNmapJob = async (spec: JobSpec, priority: number) => {
    // The job's activity id names the job, so a claim can be checked against what Temporal dispatched.
    if (patched(NMAP_ACTIVITY_ID_PATCH)) {
      // A bridged run asks, job by job, whether a predecessor agent takes it (they scan TCP only).
      if (state.plan?.legacyBridge && !spec.udpPorts && patched(LEGACY_BRIDGE_PATCH)) {
        const route = await bridge.routeNmapJob({ runId: spec.runId, jobId: spec.jobId });
        if (route.legacy) {
          return proxyActivities<ScanActivities>({
            ...legacyNmapActivityOptions(route.timeoutSeconds, input.nmapTiming),
            taskQueue: legacyQueueOf(input.scanTaskQueue ?? DEFAULT_SCAN_TASK_QUEUE),
            priority: { priorityKey: priorityKey(priority) },
            activityId: nmapActivityId(spec.jobId),
          }).runNmapJob(spec);
        }
      }
      return proxyActivities<ScanActivities>({ ...nmapOptions(priority), activityId: nmapActivityId(spec.jobId) }).runNmapJob(spec);
    }
    const key = priorityKey(priority);
    let fn = legacyProxies.get(key);
    if (!fn) {
      fn = proxyActivities<ScanActivities>(nmapOptions(priority)).runNmapJob;
      legacyProxies.set(key, fn);
    }
    return fn(spec);
  };
  // A scouting job (two-stage profiles only: no earlier history schedules one) runs masscan on the agents' queue.
  const runScoutJob = (spec: JobSpec, priority: number) =>
    proxyActivities<ScanActivities>({ ...nmapOptions(priority), activityId: scoutActivityId(spec.jobId) }).runScoutJob(spec);
  const limits: RunLimits = { ...DEFAULT_LIMITS, ...input.limits };

  const step = await executeScanRun(
    {
      activities: server,
      runNmapJob,
      runScoutJob,
      isCancellation,
      nonCancellable: (fn) => CancellationScope.nonCancellable(fn),
      report(e) {
        if (e.type === 'planned') {
          upsertSearchAttributes([
            { key: SA_JOB_COUNT, value: e.plan.jobCount },
            { key: SA_ADDRESS_COUNT, value: e.plan.addressCount },
          ]);
          upsertMemo({
            runId: e.plan.runId,
            jobs: e.plan.jobCount,
            addresses: e.plan.addressCount,
            targets: e.plan.targetCount,
            ...(e.plan.scoutJobs ? { stage: 'scout', scoutJobs: e.plan.scoutJobs } : {}),
          });
        }
        if (e.type === 'stage') {
          upsertSearchAttributes([{ key: SA_JOB_COUNT, value: e.plan.jobCount }]);
          upsertMemo({ stage: e.stage, jobs: e.plan.jobCount });
        }
        progress.event(e);
      },
    },
    state,
    limits,
  );
  if (step.done) return step.summary;
  // Keep the history small on huge runs: the next execution starts from the carried state.
  // The memo upserted at planning is carried explicitly (a new execution starts from the memo it was started with).
  const next = makeContinueAsNewFunc<(i: ScanWorkflowInput) => Promise<RunSummary>>({ memo: workflowInfo().memo ?? {} });
  return next({ ...input, state: step.state });
}
