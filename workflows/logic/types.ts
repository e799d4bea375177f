/*
 * Types shared by the workflow logic, the Temporal bindings, the embedded
 * runner and the activities. Type-only: nothing here has a runtime value, so
 * workflows/ can import it without pulling side effects into the sandbox.
 *
 * Payload rule (claim check): nothing that grows with the size of a scan result
 * crosses an activity boundary. Activities exchange ids, counters and job specs
 * (a job holds at most 256 addresses or names), never XML or observations.
 */
import type { ChangeCounts } from '../../core/counts.ts';
import type { PlannedJob } from '../../core/plan.ts';
import type { ScannerName } from '../../core/scanner/contract.ts';
import type { ScanStageDropped, ScanStagePlan } from '../../core/scout-plan.ts';

export type { ScanStageDropped, ScanStagePlan };

/** What a run scans: a stored profile (scheduled or manual), an urgent investigation, or a trigger profile's firings. */
export type RunRequest =
  | {
      kind: 'profile';
      profile: string;
      /** Business id, `profile:<name>:<scheduled time>`; also the idempotency key of planRun. */
      workflowId: string;
      scheduledFor?: string;
      requestedBy: string;
      scopeOverrideReason?: string;
    }
  | {
      kind: 'investigation';
      /** `inv_…`; the workflow id is `investigation:<id>`. */
      investigationId: string;
      workflowId: string;
      targets: string[];
      tcpPorts: string;
      udpPorts?: string;
      scripts?: string[];
      reason?: string;
      requestedBy: string;
      scopeOverrideReason?: string;
    }
  | {
      kind: 'trigger';
      /** The trigger profile whose claimed firings the run scans (each on its own address and port). */
      profile: string;
      /** `trigger:<profile>:<first firing id>`: the firings claimed under it are what the run scans (store/repos/trigger-firings.ts). */
      workflowId: string;
      requestedBy: string;
      /** Never: what a finding triggers stays inside the perimeter. */
      scopeOverrideReason?: undefined;
    };

export type RunKindOfRequest = RunRequest['kind'];

/** What planRun stored: the run row and its jobs (ids by index, fetched later in pages). */
export interface PlannedRun {
  runId: string;
  kind: RunKindOfRequest;
  profile?: string;
  /** 0 (background) … 4 (urgent). */
  priority: number;
  jobCount: number;
  addressCount: number;
  targetCount: number;
  /** True when planRun found the run already created by an earlier attempt. */
  resumed: boolean;
  /**
   * Distributed mode with the predecessor's agents (PLUM_LEGACY_BOT_API on the worker that planned the run):
   * each TCP job is routed to them or to Plum's agents when it is scheduled (LegacyRouteActivities).
   */
  legacyBridge?: boolean;
  /**
   * Two-stage profile: jobs [0, scoutJobs) are masscan sweeps; the nmap stage's jobs are planned from what
   * answered once they are done (planScanStage), after the jobs already planned (names go to nmap directly).
   */
  scoutJobs?: number;
}

/** Everything an agent needs to scan one job: small by construction (≤ 256 addresses). */
export interface JobSpec extends Omit<PlannedJob, 'profile'> {
  runId: string;
  jobId: string;
  /** Set when the job was already ingested by an earlier execution (continue-as-new, restart). */
  done?: boolean;
  /** The addresses each name of the job was checked at when the run was planned (re-checked before nmap starts). */
  pinned?: Record<string, string[]>;
  /** Scripts of refused categories an admin allowed on the profile. */
  allowScripts?: string[];
  /** Custom NSE scripts of the job (`plum nse add`) by content hash: runners fetch and check them. */
  customScripts?: Array<{ name: string; sha256: string; categories: string[] }>;
  /** The profile's scanner when it is not nmap (runNmapJob dispatches on it: activities/scanner-job.ts). */
  scanner?: ScannerName;
  /** A scouting job of a two-stage profile: masscan at this rate (packets a second) instead of nmap. */
  scout?: { rate: number };
}

/** What runNmapJob returns: ids and digests only; the XML went to the server by claim check. */
export interface NmapJobResult {
  runId: string;
  jobId: string;
  sha256: string;
  /** Uncompressed XML size in bytes. */
  size: number;
  exitCode: number | null;
  interrupted: boolean;
  durationMs: number;
  /** `stored`: written to raw_results by an in-process runner; `uploaded`: PUT to the server by an agent. */
  delivery: 'stored' | 'uploaded';
}

export type JobStatus = 'succeeded' | 'partial' | 'failed';

export interface JobOutcome extends ChangeCounts {
  jobId: string;
  index: number;
  status: JobStatus;
  error?: string;
}

export interface RunCounters extends ChangeCounts {
  jobs: number;
  jobsDone: number;
  jobsFailed: number;
  jobsPartial: number;
}

export type RunStatus = 'succeeded' | 'partial' | 'failed' | 'cancelled';

export interface RunSummary {
  runId: string;
  workflowId: string;
  kind: RunKindOfRequest;
  profile?: string;
  status: RunStatus;
  counters: RunCounters;
  errors: string[];
}

/** The activities the workflow logic calls. Implemented by activities/index.ts (planning in activities/plan-run.ts, scouting in activities/scouting.ts). */
export interface ScanActivities {
  /** Checks scope, plans jobs and stores the run and its jobs; idempotent per workflowId. */
  planRun(req: RunRequest): Promise<PlannedRun>;
  /** A page of job specs in index order. */
  getJobSpecs(input: { runId: string; fromIndex: number; count: number }): Promise<JobSpec[]>;
  /** Runs nmap for one job (heartbeating progress) and hands the XML to the server; returns ids only. */
  runNmapJob(spec: JobSpec): Promise<NmapJobResult>;
  /** Runs masscan for one scouting job (heartbeating progress) and hands its output to the server; returns ids only. */
  runScoutJob(spec: JobSpec): Promise<NmapJobResult>;
  /**
   * Parses and ingests a job's stored result (idempotent: a job already ingested is only counted).
   * `interrupted`: the scanner was stopped (a scouting job's time limit): what it found is stored, nothing is gone.
   */
  ingestJob(input: { runId: string; jobId: string; interrupted?: boolean }): Promise<JobOutcome>;
  /**
   * Plans the nmap stage of a two-stage run from what its scouting jobs found, within the perimeter as it is now;
   * idempotent. Returns the run's job count, and the answering addresses left out.
   */
  planScanStage(input: { runId: string }): Promise<ScanStagePlan>;
  /** Marks a job failed after its retries are spent. */
  failJob(input: { runId: string; jobId: string; error: string }): Promise<void>;
  /** Closes the run with its status and counters. */
  finishRun(input: { runId: string; status: RunStatus; counters: RunCounters; errors: string[] }): Promise<void>;
}

/** Progress the logic reports (Temporal: memo/sink; embedded: progress bars). */
export type RunEvent =
  | { type: 'planned'; plan: PlannedRun }
  /** A two-stage run's nmap stage was planned: `plan.jobCount` now counts its jobs too. */
  | { type: 'stage'; stage: 'scan'; plan: PlannedRun }
  | { type: 'job-started'; spec: JobSpec }
  | { type: 'job-finished'; outcome: JobOutcome }
  | { type: 'finished'; summary: RunSummary };

/** State carried across continue-as-new: enough to resume a run without replaying its past. */
export interface RunState {
  request: RunRequest;
  plan?: PlannedRun;
  /** Index of the first job this execution still has to handle. */
  nextIndex: number;
  /** A two-stage run's stage: `scout` until its scouting jobs are done (absent for runs without scouting). */
  stage?: 'scout' | 'scan';
  counters: RunCounters;
  errors: string[];
}

/** Where a job of a bridged run goes (core/bot-api/bridge-route.ts); implemented by activities/legacy-bridge.ts. */
export interface LegacyRoute {
  /** True: the legacy queue (the bridge hands the job to a predecessor agent); false: the scan queue. */
  legacy: boolean;
  /** PLUM_LEGACY_JOB_TIMEOUT: the start-to-close timeout of a legacy attempt (a silent agent's job is retried). */
  timeoutSeconds: number;
}

export interface LegacyRouteActivities {
  /** Decides a job's executor and, for the predecessor's agents, marks the job waiting for them. */
  routeNmapJob(input: { runId: string; jobId: string }): Promise<LegacyRoute>;
}
