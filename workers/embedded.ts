import type { PlumConfig } from '../core/config.ts';
import { PlumError, toPlumError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import type { Logger } from '../core/log.ts';
import type { Resolver } from '../core/scope.ts';
import { createActivities, embeddedActivityContext, type ActivityCtx, type JobHeartbeat } from '../activities/index.ts';
import { configuredScanners } from '../activities/scanners.ts';
import { createNmapRunner, systemResolver, type NmapRunner } from '../activities/nmap.ts';
import { storeScriptSource } from '../store/repos/nse-scripts.ts';
import type { Store } from '../store/index.ts';
import type { IngestDeps } from '../store/ingest.ts';
import { finishPendingRescores } from '../store/repos/pending-rescores.ts';
import { createRuleIngestDeps, openRuleContext, rescoreIps } from '../store/rules/index.ts';
import { cancelRequested, claimRun } from '../store/repos/run-owners.ts';
import { legacyAgentsReady, runJobOnLegacyAgent } from './legacy-handoff.ts';
import { thisProcess } from './run-owner.ts';
import { DEFAULT_LIMITS, executeScanRun, initialState, workflowIdFor, type RunLimits } from '../workflows/logic/scan-run.ts';
import type { JobSpec, NmapJobResult, RunEvent, RunRequest, RunSummary } from '../workflows/logic/types.ts';

/*
 * The embedded runner: the same run logic Temporal executes
 * (workflows/logic/scan-run.ts), bound to direct activity calls in this
 * process. Jobs run with a concurrency limit; each nmap activity runs inside an
 * activity context whose heartbeats feed the progress display and whose abort
 * signal (Ctrl-C, a cancelled run) kills nmap.
 */

export interface EmbeddedDeps {
  store: Store;
  config: PlumConfig;
  log: Logger;
  nmap?: NmapRunner;
  /** Tag rules and scores at ingest; default: the stored rules and the score file. */
  ingestDeps?: IngestDeps;
  resolve?: Resolver;
  /** Jobs in flight (default 4). */
  maxInFlight?: number;
  /** Attempts of a job whose nmap run failed for a retryable reason (default 2). */
  nmapAttempts?: number;
  jobTimeoutMs?: number;
  /** Addresses per job (default PLUM_JOB_SIZE, 256). */
  maxJobSize?: number;
  /** Aborting cancels the run: nmap is killed, the run is recorded as cancelled. */
  signal?: AbortSignal;
  onEvent?(e: RunEvent): void;
  onJobProgress?(hb: JobHeartbeat): void;
  /** How often a running run checks for a `plum runs cancel` request (default 1000 ms). */
  cancelPollMs?: number;
  /** How often a job handed to a legacy agent is checked for its result (default 1000 ms). */
  legacyPollMs?: number;
}

/** Rules and scores for ingest, as the rest of Plum applies them. */
export async function defaultIngestDeps(store: Store, config: PlumConfig): Promise<IngestDeps> {
  const ctx = await openRuleContext(store, config);
  // Scores an interrupted ingest left owed are finished before new results arrive.
  await finishPendingRescores(store, (ips) => rescoreIps(store, ips, ctx));
  return createRuleIngestDeps(store, ctx) as IngestDeps;
}

const isCancelled = (e: unknown) => e instanceof PlumError && e.code === 'cancelled';

/** Runs one request (profile or investigation) to the end in this process. */
export async function runEmbedded(deps: EmbeddedDeps, request: RunRequest, limits: Partial<RunLimits> = {}): Promise<RunSummary> {
  const nmap = deps.nmap ?? createNmapRunner({ nmapPath: deps.config.PLUM_NMAP, log: deps.log, scriptSource: storeScriptSource(deps.store) });
  const ingestDeps = deps.ingestDeps ?? (await defaultIngestDeps(deps.store, deps.config));
  const acts = createActivities({
    log: deps.log,
    store: deps.store,
    nmap,
    ingestDeps,
    resolve: deps.resolve ?? systemResolver,
    scanners: configuredScanners(deps.config, { log: deps.log, resolve: deps.resolve ?? systemResolver }),
    retentionDays: deps.config.PLUM_RAW_RETENTION_DAYS,
    runnerName: 'embedded',
    ...(deps.jobTimeoutMs ? { jobTimeoutMs: deps.jobTimeoutMs } : {}),
    maxJobSize: deps.maxJobSize ?? deps.config.PLUM_JOB_SIZE,
    scoutJobSize: deps.config.PLUM_SCOUT_JOB_SIZE,
  });
  // Cancelled by the caller (Ctrl-C, the API) or by `plum runs cancel` through the database.
  const cancel = new AbortController();
  const signal = deps.signal ? AbortSignal.any([deps.signal, cancel.signal]) : cancel.signal;
  const attempts = Math.max(1, deps.nmapAttempts ?? 2);
  let poll: NodeJS.Timeout | undefined;
  const planRun = acts.planRun;
  acts.planRun = async (req) => {
    const planned = await planRun(req);
    // Recorded so that a later plum process can tell this run from one whose process is gone.
    await claimRun(deps.store, planned.runId, thisProcess());
    poll ??= setInterval(() => {
      cancelRequested(deps.store, planned.runId).then(
        (yes) => {
          if (yes) cancel.abort();
        },
        (e: unknown) => deps.log.debug({ err: toPlumError(e).message }, 'checking for a cancel request failed'),
      );
    }, deps.cancelPollMs ?? 1000);
    poll.unref();
    return planned;
  };

  const runNmapJob = async (spec: JobSpec): Promise<NmapJobResult> => {
    const handoff = {
      store: deps.store,
      timeoutSeconds: deps.config.PLUM_LEGACY_JOB_TIMEOUT,
      signal,
      ...(deps.legacyPollMs ? { pollMs: deps.legacyPollMs } : {}),
    };
    // The predecessor's agents scan TCP only (§2): a job with UDP ports stays here.
    if (deps.config.PLUM_LEGACY_BOT_API && !spec.udpPorts && (await legacyAgentsReady(handoff))) return runJobOnLegacyAgent(spec, handoff);
    return withAttempts(spec, 'nmap', () => acts.runNmapJob(spec));
  };

  /** Runs a scan activity in an activity context (progress, cancellation), again after a retryable failure. */
  const withAttempts = async (spec: JobSpec, what: string, fn: () => Promise<NmapJobResult>): Promise<NmapJobResult> => {
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) throw new PlumError('cancelled', 'run cancelled', { hint: 'start the run again to finish it' });
      const ctx: ActivityCtx = {
        heartbeat: (d) => {
          if (d && typeof d === 'object' && 'jobId' in d) deps.onJobProgress?.(d as JobHeartbeat);
        },
        signal,
        attempt,
      };
      try {
        return await embeddedActivityContext.run(ctx, fn);
      } catch (e) {
        const err = toPlumError(e);
        if (err.code === 'cancelled' || !err.retryable || attempt >= attempts) throw err;
        deps.log.warn({ jobId: spec.jobId, attempt, err: err.message }, `${what} job failed, retrying`);
      }
    }
  };

  let state = initialState(request);
  try {
    return await runSteps();
  } finally {
    clearInterval(poll);
  }

  async function runSteps(): Promise<RunSummary> {
    for (;;) {
      const step = await executeScanRun(
        {
          activities: acts,
          runNmapJob,
          runScoutJob: (spec) => withAttempts(spec, 'masscan', () => acts.runScoutJob(spec)),
          isCancellation: isCancelled,
          nonCancellable: (fn) => fn(),
          report: (e) => deps.onEvent?.(e),
        },
        state,
        { ...DEFAULT_LIMITS, maxInFlight: deps.maxInFlight ?? 4, jobsPerExecution: Number.POSITIVE_INFINITY, ...limits },
      );
      if (step.done) return step.summary;
      state = step.state;
    }
  }
}

export interface ProfileRunOptions {
  /** The cycle slot this run is for (scheduler); default now. */
  scheduledFor?: Date;
  requestedBy?: string;
  scopeOverrideReason?: string;
}

export function profileRequest(profile: string, opts: ProfileRunOptions = {}): RunRequest {
  const scheduledFor = (opts.scheduledFor ?? new Date()).toISOString();
  return {
    kind: 'profile',
    profile,
    scheduledFor,
    requestedBy: opts.requestedBy ?? 'cli',
    workflowId: workflowIdFor({ kind: 'profile', profile, scheduledFor }),
    ...(opts.scopeOverrideReason ? { scopeOverrideReason: opts.scopeOverrideReason } : {}),
  };
}

export async function runProfileEmbedded(deps: EmbeddedDeps, profile: string, opts: ProfileRunOptions = {}): Promise<RunSummary> {
  return runEmbedded(deps, profileRequest(profile, opts));
}

export interface InvestigationInput {
  targets: string[];
  tcpPorts: string;
  udpPorts?: string;
  scripts?: string[];
  reason?: string;
  requestedBy?: string;
  scopeOverrideReason?: string;
}

export function investigationRequest(input: InvestigationInput): RunRequest & { kind: 'investigation' } {
  const investigationId = newId('inv');
  return {
    kind: 'investigation',
    investigationId,
    workflowId: workflowIdFor({ kind: 'investigation', investigationId }),
    targets: input.targets,
    tcpPorts: input.tcpPorts,
    ...(input.udpPorts ? { udpPorts: input.udpPorts } : {}),
    ...(input.scripts?.length ? { scripts: input.scripts } : {}),
    ...(input.reason ? { reason: input.reason } : {}),
    requestedBy: input.requestedBy ?? 'cli',
    ...(input.scopeOverrideReason ? { scopeOverrideReason: input.scopeOverrideReason } : {}),
  };
}

export async function runInvestigationEmbedded(deps: EmbeddedDeps, input: InvestigationInput): Promise<RunSummary> {
  return runEmbedded(deps, investigationRequest(input));
}
