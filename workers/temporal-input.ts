import type { PlumConfig } from '../core/config.ts';
import { DEFAULT_LIMITS, initialState } from '../workflows/logic/scan-run.ts';
import type { RunRequest } from '../workflows/logic/types.ts';
import { NMAP_ACTIVITY_OPTIONS, urgentQueueOf, type NmapTimingOverrides } from '../workflows/options.ts';
import type { ScanWorkflowInput } from '../workflows/temporal-run.ts';

export type WorkflowInputConfig = Pick<
  PlumConfig,
  'PLUM_TEMPORAL_SCAN_QUEUE' | 'PLUM_TEMPORAL_HEARTBEAT_TIMEOUT' | 'PLUM_TEMPORAL_RETRY_INTERVAL' | 'PLUM_TEMPORAL_JOBS_PER_EXECUTION'
>;

/**
 * The input of a scan workflow as every starter builds it (`plum run
 * --temporal`, the API, the Schedules): the deployment's scan queue, timing
 * and continue-as-new threshold travel in the input, so the workflow stays
 * deterministic and a Schedule's digest changes when they do. Values equal to
 * the defaults are left out. Investigations name the urgent queue too.
 */
export function scanWorkflowInput(config: WorkflowInputConfig, request: RunRequest): ScanWorkflowInput {
  const nmapTiming: NmapTimingOverrides = {
    ...(config.PLUM_TEMPORAL_HEARTBEAT_TIMEOUT !== NMAP_ACTIVITY_OPTIONS.heartbeatTimeout ? { heartbeatTimeout: config.PLUM_TEMPORAL_HEARTBEAT_TIMEOUT } : {}),
    ...(config.PLUM_TEMPORAL_RETRY_INTERVAL !== NMAP_ACTIVITY_OPTIONS.retry?.initialInterval
      ? { retryInitialInterval: config.PLUM_TEMPORAL_RETRY_INTERVAL }
      : {}),
  };
  const perExecution = config.PLUM_TEMPORAL_JOBS_PER_EXECUTION;
  return {
    state: initialState(request),
    scanTaskQueue: config.PLUM_TEMPORAL_SCAN_QUEUE,
    // An investigation's jobs take the agents' reserved slot: they never wait behind a busy profile run.
    ...(request.kind === 'investigation' ? { urgentScanTaskQueue: urgentQueueOf(config.PLUM_TEMPORAL_SCAN_QUEUE) } : {}),
    ...(perExecution !== DEFAULT_LIMITS.jobsPerExecution ? { limits: { jobsPerExecution: perExecution } } : {}),
    ...(Object.keys(nmapTiming).length ? { nmapTiming } : {}),
  };
}
