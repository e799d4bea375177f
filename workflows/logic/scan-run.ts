import type {
  JobOutcome,
  JobSpec,
  NmapJobResult,
  RunCounters,
  RunEvent,
  RunRequest,
  RunState,
  RunStatus,
  RunSummary,
  ScanActivities,
  ScanStageDropped,
} from './types.ts';

/*
 * The scan run, written once. Temporal (workflows/scan-profile.ts,
 * workflows/investigation.ts) and the embedded runner (workers/embedded.ts)
 * both execute `executeScanRun`; only the bindings of `RunEnv` differ.
 *
 * Determinism: this module reads no clock, no randomness and no I/O of its own.
 * Everything external goes through `env` (activities, which Temporal records),
 * and the job pool below schedules work in a fixed order (lanes pull the next
 * index from a shared counter), so a replay issues the same commands in the
 * same order as the original execution.
 */

export interface RunEnv {
  /** Server-side activities (planning, ingest, bookkeeping). */
  activities: ScanActivities;
  /** The nmap activity; Temporal routes it to the scan task queue (agents) with the run's priority. */
  runNmapJob(spec: JobSpec, priority: number): Promise<NmapJobResult>;
  /** The masscan activity of a scouting job; on the scan task queue like nmap's. */
  runScoutJob(spec: JobSpec, priority: number): Promise<NmapJobResult>;
  /** True for the error a cancelled run/activity throws; such errors are never swallowed. */
  isCancellation(e: unknown): boolean;
  /** Runs cleanup that must happen even while the run is being cancelled. */
  nonCancellable<T>(fn: () => Promise<T>): Promise<T>;
  /** Progress hook: memo/sinks under Temporal, progress bars when embedded. */
  report?(event: RunEvent): void;
}

export interface RunLimits {
  /** Jobs in flight per run (bounded so one run cannot take every agent). */
  maxInFlight: number;
  /** Job specs fetched per getJobSpecs call. */
  pageSize: number;
  /**
   * Jobs handled per workflow execution before continuing as new; keeps the
   * history of a 8,000-job run far below Temporal's limits (≈ 8 events per job).
   * Infinity for the embedded runner.
   */
  jobsPerExecution: number;
}

export const DEFAULT_LIMITS: RunLimits = { maxInFlight: 8, pageSize: 100, jobsPerExecution: 500 };

export type RunStep = { done: true; summary: RunSummary } | { done: false; state: RunState };

export function emptyCounters(jobs = 0): RunCounters {
  return { jobs, jobsDone: 0, jobsFailed: 0, jobsPartial: 0, hosts: 0, hostsUp: 0, ports: 0, appeared: 0, changed: 0, gone: 0, reappeared: 0 };
}

export function initialState(request: RunRequest): RunState {
  return { request, nextIndex: 0, counters: emptyCounters(), errors: [] };
}

/** Workflow id of a run: business-meaningful, readable in the Temporal UI. */
export function workflowIdFor(req: { kind: 'profile'; profile: string; scheduledFor: string } | { kind: 'investigation'; investigationId: string }): string {
  return req.kind === 'profile' ? `profile:${req.profile}:${req.scheduledFor}` : `investigation:${req.investigationId}`;
}

/** Temporal priority key (1 first … 5 last) of a Plum priority (0 background … 4 urgent). */
export function priorityKey(priority: number): number {
  const p = Math.min(4, Math.max(0, Math.trunc(priority)));
  return 5 - p;
}

const MAX_ERRORS = 20;

/** The run's note for answering addresses the nmap stage left out (the perimeter changed while the run was scouting). */
export function droppedMessage(d: ScanStageDropped): string {
  const sample = d.addresses.join(', ') + (d.count > d.addresses.length ? ', …' : '');
  return (
    `${d.count} address${d.count === 1 ? '' : 'es'} that answered the scouting stage got no nmap job: ` +
    `excluded or outside the perimeter since the run was planned (${sample})`
  );
}

function addOutcome(c: RunCounters, o: JobOutcome): void {
  c.jobsDone++;
  if (o.status === 'failed') c.jobsFailed++;
  if (o.status === 'partial') c.jobsPartial++;
  c.hosts += o.hosts;
  c.hostsUp += o.hostsUp;
  c.ports += o.ports;
  c.appeared += o.appeared;
  c.changed += o.changed;
  c.gone += o.gone;
  c.reappeared += o.reappeared;
}

export function runStatus(c: RunCounters): RunStatus {
  if (c.jobs > 0 && c.jobsFailed === c.jobs) return 'failed';
  if (c.jobsFailed > 0 || c.jobsPartial > 0) return 'partial';
  return 'succeeded';
}

function message(e: unknown): string {
  if (e && typeof e === 'object') {
    // Temporal wraps an activity's error in ActivityFailure; the useful text is the cause's.
    const cause = (e as { cause?: unknown }).cause;
    if (cause && typeof cause === 'object' && typeof (cause as Error).message === 'string' && (cause as Error).message) {
      return (cause as Error).message;
    }
    if (typeof (e as Error).message === 'string') return (e as Error).message;
  }
  return String(e);
}

/** One job: scan, then ingest. A job whose retries are spent is marked failed; the run goes on. */
async function runJob(env: RunEnv, spec: JobSpec, priority: number): Promise<JobOutcome> {
  const failed = (error: string): JobOutcome => ({
    jobId: spec.jobId,
    index: spec.index,
    status: 'failed',
    hosts: 0,
    hostsUp: 0,
    ports: 0,
    appeared: 0,
    changed: 0,
    gone: 0,
    reappeared: 0,
    error,
  });
  env.report?.({ type: 'job-started', spec });
  try {
    // A job already ingested (a restarted run) is only counted, never scanned twice.
    if (spec.done) return await env.activities.ingestJob({ runId: spec.runId, jobId: spec.jobId });
    if (spec.scout) {
      const scouted = await env.runScoutJob(spec, priority);
      return await env.activities.ingestJob({ runId: spec.runId, jobId: spec.jobId, ...(scouted.interrupted ? { interrupted: true } : {}) });
    }
    await env.runNmapJob(spec, priority);
    return await env.activities.ingestJob({ runId: spec.runId, jobId: spec.jobId });
  } catch (e) {
    if (env.isCancellation(e)) throw e;
    const error = `job ${spec.index} (${spec.targets.slice(0, 3).join(' ')}${spec.targets.length > 3 ? ' …' : ''}): ${message(e)}`;
    await env.activities.failJob({ runId: spec.runId, jobId: spec.jobId, error });
    return failed(error);
  }
}

/**
 * Runs jobs [from, to) with at most `maxInFlight` at once. Lanes take the next
 * index in order; specs are fetched page by page (ids only go through history).
 */
async function runSegment(env: RunEnv, state: RunState, to: number, limits: RunLimits): Promise<void> {
  const plan = state.plan!;
  let next = state.nextIndex;
  const pages = new Map<number, Promise<JobSpec[]>>();
  const specAt = async (index: number): Promise<JobSpec> => {
    const page = Math.floor(index / limits.pageSize);
    let p = pages.get(page);
    if (!p) {
      p = env.activities.getJobSpecs({ runId: plan.runId, fromIndex: page * limits.pageSize, count: limits.pageSize });
      pages.set(page, p);
      // Keep at most the current and the next page in memory.
      pages.delete(page - 2);
    }
    const list = await p;
    const spec = list[index - page * limits.pageSize];
    if (!spec || spec.index !== index) throw new Error(`job ${index} of run ${plan.runId} is missing`);
    return spec;
  };
  const lane = async () => {
    while (next < to) {
      const index = next++;
      const spec = await specAt(index);
      const outcome = await runJob(env, spec, plan.priority);
      addOutcome(state.counters, outcome);
      if (outcome.error && state.errors.length < MAX_ERRORS) state.errors.push(outcome.error);
      env.report?.({ type: 'job-finished', outcome });
    }
  };
  const lanes = Math.max(1, Math.min(limits.maxInFlight, to - state.nextIndex));
  await Promise.all(Array.from({ length: lanes }, lane));
  state.nextIndex = to;
}

/**
 * Advances a run by at most `limits.jobsPerExecution` jobs. Returns the final
 * summary, or the state to continue from (Temporal: continue-as-new).
 */
export async function executeScanRun(env: RunEnv, state: RunState, limits: RunLimits = DEFAULT_LIMITS): Promise<RunStep> {
  const req = state.request;
  if (!state.plan) {
    // Planning errors (out of scope, unknown profile, unsafe argument) fail the run: nothing was scanned.
    state.plan = await env.activities.planRun(req);
    state.counters = emptyCounters(state.plan.jobCount);
    if (state.plan.scoutJobs) state.stage = 'scout';
    env.report?.({ type: 'planned', plan: state.plan });
  }
  const plan = state.plan;
  try {
    // A run without scouting has one stage: its planned jobs. A two-stage run first runs its scouting jobs, then
    // plans the nmap stage from what answered and runs it (jobs it planned before, names, run in that stage too).
    let budget = limits.jobsPerExecution;
    for (;;) {
      const end = state.stage === 'scout' ? plan.scoutJobs! : plan.jobCount;
      const to = Math.min(end, state.nextIndex + budget);
      if (state.nextIndex < to) {
        budget -= to - state.nextIndex;
        await runSegment(env, state, to, limits);
      }
      if (state.nextIndex < end) return { done: false, state };
      if (state.stage !== 'scout') break;
      const next = await env.activities.planScanStage({ runId: plan.runId });
      plan.jobCount = next.jobCount;
      state.counters.jobs = next.jobCount;
      state.stage = 'scan';
      // Not a job's error, so the status stays what the jobs make it; the run's errors tell what was left out.
      if (next.dropped && next.dropped.count > 0 && state.errors.length < MAX_ERRORS) state.errors.push(droppedMessage(next.dropped));
      env.report?.({ type: 'stage', stage: 'scan', plan });
    }
  } catch (e) {
    if (env.isCancellation(e)) {
      await env.nonCancellable(() =>
        env.activities.finishRun({
          runId: plan.runId,
          status: 'cancelled',
          counters: state.counters,
          errors: [...state.errors, 'cancelled'],
        }),
      );
    }
    throw e;
  }
  const status = runStatus(state.counters);
  await env.activities.finishRun({ runId: plan.runId, status, counters: state.counters, errors: state.errors });
  const summary: RunSummary = {
    runId: plan.runId,
    workflowId: req.workflowId,
    kind: plan.kind,
    ...(plan.profile ? { profile: plan.profile } : {}),
    status,
    counters: state.counters,
    errors: state.errors,
  };
  env.report?.({ type: 'finished', summary });
  return { done: true, summary };
}
