import type { ActivityOptions, RetryPolicy } from '@temporalio/common';

/*
 * Activity options of the Temporal bindings. Pure data (no side effects), so
 * both workflows/ and the client code (schedules, `plum run --temporal`) use it.
 */

/**
 * PlumError codes whose cause is the input: retrying cannot help, so Temporal
 * must not retry them. Activities throw ApplicationFailure with `type` set to
 * the PlumError code (activities/index.ts); this list is the safety net.
 * Kept equal to the codes for which `PlumError.retryable` is false (tested).
 */
export const NON_RETRYABLE_ERROR_TYPES = [
  'usage',
  'invalid_input',
  'syntax',
  'not_found',
  'conflict',
  'out_of_scope',
  'unsafe_argument',
  'parse_error',
  'unauthorized',
  'forbidden',
  'payload_too_large',
  'cancelled',
] as const;

const retry = (maximumAttempts: number): RetryPolicy => ({
  initialInterval: '10s',
  backoffCoefficient: 2,
  maximumInterval: '10m',
  maximumAttempts,
  nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
});

/** Server-side activities (plan, ingest, bookkeeping): short, retried on database hiccups. */
export const SERVER_ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '15m',
  retry: retry(10),
};

/**
 * The nmap activity, run by agents. The heartbeat timeout is what detects a
 * lost agent: nmap reports progress every 2 s and the activity heartbeats at
 * least every 20 s, so 2 minutes without one means the agent is gone and the
 * job is retried on another agent.
 */
export const NMAP_ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '8h',
  heartbeatTimeout: '2m',
  retry: retry(4),
};

/** Deployment overrides of the nmap activity's timing (config PLUM_TEMPORAL_HEARTBEAT_TIMEOUT, _RETRY_INTERVAL). */
export interface NmapTimingOverrides {
  /** e.g. `2m`: how long without a heartbeat before the job counts as lost. */
  heartbeatTimeout?: string;
  /** e.g. `10s`: first wait before a retry. */
  retryInitialInterval?: string;
}

/** The nmap activity's options with the deployment's overrides applied. */
export function nmapActivityOptions(overrides: NmapTimingOverrides = {}): ActivityOptions {
  return {
    ...NMAP_ACTIVITY_OPTIONS,
    ...(overrides.heartbeatTimeout ? { heartbeatTimeout: overrides.heartbeatTimeout as ActivityOptions['heartbeatTimeout'] } : {}),
    retry: {
      ...NMAP_ACTIVITY_OPTIONS.retry,
      ...(overrides.retryInitialInterval ? { initialInterval: overrides.retryInitialInterval as RetryPolicy['initialInterval'] } : {}),
    },
  };
}

/**
 * The nmap activity of a job handed to the predecessor's agents (through the bridge in `plum serve`). They
 * are silent while they scan, so there is no heartbeat timeout: the attempt's start-to-close timeout
 * (PLUM_LEGACY_JOB_TIMEOUT) is what detects a silent agent, and Temporal retries the job.
 */
export function legacyNmapActivityOptions(timeoutSeconds: number, overrides: NmapTimingOverrides = {}): ActivityOptions {
  const { heartbeatTimeout: _none, ...options } = nmapActivityOptions(overrides);
  return { ...options, startToCloseTimeout: `${Math.max(1, Math.trunc(timeoutSeconds))}s` };
}

/** The task queue the legacy bridge polls, next to a scan queue. */
export const legacyQueueOf = (scanQueue: string) => `${scanQueue}-legacy`;

/**
 * Patch id under which a bridged run (PlannedRun.legacyBridge) asks routeNmapJob where each TCP job goes
 * before scheduling it. Histories written before it never route and replay unchanged.
 */
export const LEGACY_BRIDGE_PATCH = 'legacy-bridge-routing';

/** Search attributes a Temporal namespace must define for Plum (see deploy/README.md). */
export const SEARCH_ATTRIBUTES = {
  PlumRunKind: 'KEYWORD',
  PlumProfile: 'KEYWORD',
  PlumPriority: 'INT',
  PlumJobCount: 'INT',
  PlumAddressCount: 'INT',
} as const;

export const DEFAULT_SCAN_TASK_QUEUE = 'plum-scan';

/**
 * Patch id (workflow `patched()`) under which a job's nmap activity is scheduled with an activity id derived
 * from its job id. Histories written before it keep the SDK's sequence numbers and replay unchanged.
 */
export const NMAP_ACTIVITY_ID_PATCH = 'nmap-activity-id-from-job';

/**
 * Activity id of a job's nmap activity: the server finds the job's activity among the workflow's pending
 * activities by it, to check that an agent claiming the job is the worker Temporal dispatched it to.
 */
export const nmapActivityId = (jobId: string) => `nmap:${jobId}`;

/** Activity id of a scouting job's masscan activity (two-stage profiles). */
export const scoutActivityId = (jobId: string) => `scout:${jobId}`;

/**
 * The task queue of urgent work (investigations) next to a scan queue. Every agent polls it with a slot of
 * its own that background profile runs cannot take, so an investigation's nmap starts at once even while
 * all the normal slots are busy.
 */
export const urgentQueueOf = (scanQueue: string) => `${scanQueue}-urgent`;
export const DEFAULT_SERVER_TASK_QUEUE = 'plum-server';
