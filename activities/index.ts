import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { changeCountsOf } from '../core/counts.ts';
import { PlumError, toPlumError } from '../core/errors.ts';
import { hostAnswered } from '../core/history/answered.ts';
import type { Logger } from '../core/log.ts';
import { hostsOutsideJob, recheckNames, type Resolver } from '../core/scope.ts';
import type { Store } from '../store/index.ts';
import { ingestScanResult, type IngestDeps, type IngestHost, type IngestScan, type IngestSummary } from '../store/ingest.ts';
import { cancelOpenJobs, jobToIngest, markJobFailed, markJobPartial, markJobRunning, pinnedAddresses, recordIngestOutcome } from '../store/repos/jobs.ts';
import { eventCountsOfJob } from '../store/repos/observation-events.ts';
import { openCountsOfJob } from '../store/repos/observations.ts';
import { rawXmlGz } from '../store/repos/raw-results.ts';
import { recordRunEnd } from '../store/repos/runs.ts';
import type { JobOutcome, JobSpec, NmapJobResult, PlannedRun, ScanActivities } from '../workflows/logic/types.ts';
import { readScannerOutput } from '../core/scanner/result.ts';
import type { NmapProgress, NmapRunner } from './nmap.ts';
import { runScannerJob } from './scanner-job.ts';
import { createScoutActivities } from './scouting.ts';
import { createPlanActivities } from './plan-run.ts';
import { storeResultSink, type ResultSink } from './result-sinks.ts';
import type { OtherScanners } from './scanners.ts';

/*
 * The activities: every side effect of a scan run, behind one factory with
 * injected dependencies. The same functions run under a Temporal worker
 * (wrapped by `toTemporalActivities`, which maps PlumError to retryable or
 * non-retryable failures) and in-process under the embedded runner.
 *
 * Idempotency: planRun is keyed by the workflow id (a retried or restarted
 * planRun finds its run); runNmapJob may run twice for one job (a lost agent),
 * and the result sink keeps one result per job; ingestJob does nothing for a
 * job already ingested. Cancellation: runNmapJob passes the activity's abort
 * signal to the nmap runner, which kills nmap's process group.
 */

/** Heartbeat/cancellation of the activity being executed, whoever executes it. */
export interface ActivityCtx {
  heartbeat(details?: unknown): void;
  signal: AbortSignal;
  attempt: number;
  /** The activity's heartbeat timeout (Temporal), when it has one. */
  heartbeatTimeoutMs?: number;
}

/** The embedded runner runs each activity inside one of these (no Temporal Context there). */
export const embeddedActivityContext = new AsyncLocalStorage<ActivityCtx>();

function currentCtx(): ActivityCtx {
  const local = embeddedActivityContext.getStore();
  if (local) return local;
  try {
    const c = Context.current();
    return {
      heartbeat: (d) => c.heartbeat(d),
      signal: c.cancellationSignal,
      attempt: c.info.attempt,
      ...(c.info.heartbeatTimeoutMs ? { heartbeatTimeoutMs: c.info.heartbeatTimeoutMs } : {}),
    };
  } catch {
    // Called directly (a script, a test): no heartbeats, never cancelled.
    return { heartbeat() {}, signal: new AbortController().signal, attempt: 1 };
  }
}

export interface ActivityDeps {
  log: Logger;
  /** Server side (embedded runner, server worker); agents have none. */
  store?: Store;
  /** Scan side (embedded runner, agents). */
  nmap?: NmapRunner;
  /**
   * The other scanners this side runs (core/scanner/contract.ts), by name: jobs of profiles that chose them,
   * and masscan for the scouting jobs of two-stage profiles (activities/scanners.ts builds them from the config).
   */
  scanners?: OtherScanners;
  /** Addresses per scouting job (PLUM_SCOUT_JOB_SIZE). */
  scoutJobSize?: number;
  /** Default: store raw results in `store` (in-process). Agents pass `httpResultSink`. */
  resultSink?: ResultSink;
  /** nmap XML → parsed scan (core/nmap); injected so the server can pin a parser version. */
  parseXml?: (xml: Buffer) => IngestScan | Promise<IngestScan>;
  parserVersion?: number;
  /** Tag rules and scores applied at ingest (createRuleIngestDeps). */
  ingestDeps?: IngestDeps;
  /** Name resolution for the scope guard (names in targets). */
  resolve?: Resolver;
  retentionDays?: number;
  /** Who runs nmap, recorded on the job (agent name or `embedded`). */
  runnerName?: string;
  /** Heartbeat at least this often while nmap runs, even without progress lines. */
  heartbeatEveryMs?: number;
  /** Per-job nmap wall-clock limit (partial results kept). */
  jobTimeoutMs?: number;
  /** Addresses per job (planner default 256); smaller in tests and benchmarks. */
  maxJobSize?: number;
  /** Temporal server worker with PLUM_LEGACY_BOT_API: runs it plans route each job (PlannedRun.legacyBridge). */
  legacyBridge?: boolean;
  now?: () => Date;
}

/** Progress details heartbeated by runNmapJob (visible in the Temporal UI as heartbeat details). */
export interface JobHeartbeat {
  jobId: string;
  index: number;
  phase: string;
  percent: number;
  etaSeconds?: number;
  /** Packets sent so far (a scouting job's masscan). */
  packets?: number;
}

const need = <T>(v: T | undefined, what: string): T => {
  if (v === undefined) throw new PlumError('internal', `this worker has no ${what}`, { hint: `run this activity on a worker configured with ${what}` });
  return v;
};

async function defaultParse(xml: Buffer): Promise<IngestScan> {
  const { parseNmapString } = await import('../core/nmap/parse.ts');
  return parseNmapString(xml.toString('utf8')) as unknown as IngestScan;
}

/**
 * A job's result without the hosts outside the job: its address targets and the addresses its names were checked
 * at. nmap resolves names again itself, so a name moved between the scope guard's last lookup and nmap's own
 * reaches another address; what nmap found there is not stored (agents' uploads are refused for it at the API).
 */
async function withinJob(scan: IngestScan, targets: readonly string[], pinned: Record<string, string[]>): Promise<{ scan: IngestScan; outside: string[] }> {
  const hosts: IngestHost[] = [];
  for await (const h of scan.hosts) hosts.push(h);
  const outside = hostsOutsideJob(hosts, targets, pinned);
  if (outside.length === 0) return { scan: { ...withRun(scan), hosts }, outside };
  const drop = new Set(outside);
  return { scan: { ...withRun(scan), hosts: hosts.filter((h) => !drop.has(h.ip)) }, outside };
}

/** The scan's run info and error, read after its hosts (a streamed parse fills them in as it goes). */
function withRun(scan: IngestScan): Omit<IngestScan, 'hosts'> {
  return { run: scan.run, ...(scan.error ? { error: scan.error } : {}) };
}

const outsideMessage = (ips: string[]) =>
  `${ips.length} host${ips.length === 1 ? '' : 's'} outside the job's targets and checked addresses not stored (a name moved before nmap resolved it): ${ips.slice(0, 10).join(', ')}${ips.length > 10 ? ', …' : ''}`;

export function createActivities(deps: ActivityDeps): ScanActivities {
  const now = deps.now ?? (() => new Date());
  const log = deps.log;
  const parseXml = deps.parseXml ?? defaultParse;
  const planning = createPlanActivities({ ...deps, now });

  /**
   * Names were checked when the run was planned, maybe hours ago: resolve them again now and scan only
   * those still at checked addresses. nmap resolves once more a moment later; the upload and ingest
   * refuse hosts outside the job's targets and checked addresses, so a change in that window is not stored.
   */
  async function recheckPinned(spec: JobSpec): Promise<string[]> {
    if (!spec.pinned || Object.keys(spec.pinned).length === 0) return spec.targets;
    const resolve = deps.resolve ?? (await import('./nmap.ts')).systemResolver;
    const current: Record<string, string[]> = {};
    for (const name of Object.keys(spec.pinned)) current[name] = await resolve(name).catch(() => []);
    const { keep, dropped } = recheckNames(spec.targets, spec.pinned, current);
    if (dropped.length > 0) log?.warn({ jobId: spec.jobId, dropped }, 'names moved outside the addresses checked at planning: not scanned');
    if (keep.length === 0) {
      throw new PlumError(
        'out_of_scope',
        `job ${spec.index}: ${dropped.map((d) => `${d.name}${d.addresses.length ? ` now at ${d.addresses.slice(0, 3).join(', ')}` : ' no longer resolves'}`).join('; ')}; nothing left to scan`,
        {
          hint: 'the names changed since the run was planned; check them against the perimeter and start a new run',
          details: { dropped },
        },
      );
    }
    return keep;
  }

  async function runNmapJob(spec: JobSpec): Promise<NmapJobResult> {
    // One activity for every scanner (its name is in recorded workflow histories); the job says which runs.
    const other = spec.scanner && spec.scanner !== 'nmap' ? need(deps.scanners?.[spec.scanner], `${spec.scanner} runner`) : undefined;
    const nmap = other ? undefined : need(deps.nmap, 'nmap runner');
    const ctx = currentCtx();
    const beat = (p: Partial<NmapProgress> & { phase: string; percent: number }) => {
      const hb: JobHeartbeat = {
        jobId: spec.jobId,
        index: spec.index,
        phase: p.phase,
        percent: p.percent,
        ...(p.etaSeconds !== undefined ? { etaSeconds: p.etaSeconds } : {}),
      };
      ctx.heartbeat(hb);
    };
    beat({ phase: 'starting', percent: 0 });
    const targets = await recheckPinned(spec);
    await deps.resultSink?.claim?.(spec, ctx.attempt);
    if (deps.store) {
      await markJobRunning(deps.store, spec.jobId, now(), deps.runnerName ?? null);
    }
    // Heartbeat even when nmap prints nothing for a while (long service probes), so only a dead worker times out;
    // a third of the heartbeat timeout leaves room for a late beat (and delivers a cancellation soon).
    let last: JobHeartbeat | undefined;
    const every = deps.heartbeatEveryMs ?? Math.max(200, Math.min(20_000, Math.floor((ctx.heartbeatTimeoutMs ?? 60_000) / 3)));
    const timer = setInterval(() => ctx.heartbeat(last ?? { jobId: spec.jobId, index: spec.index, phase: 'scanning', percent: 0 }), every);
    let result;
    const onProgress = (p: Partial<NmapProgress> & { phase: string; percent: number }) => {
      last = { jobId: spec.jobId, index: spec.index, phase: p.phase, percent: p.percent, ...(p.etaSeconds !== undefined ? { etaSeconds: p.etaSeconds } : {}) };
      ctx.heartbeat(last);
    };
    try {
      if (other)
        result = await runScannerJob(other, spec, targets, { signal: ctx.signal, onProgress, ...(deps.jobTimeoutMs ? { timeoutMs: deps.jobTimeoutMs } : {}) });
      else
        result = await nmap!.runNmap(
          {
            targets,
            tcpPorts: spec.tcpPorts,
            ...(spec.udpPorts ? { udpPorts: spec.udpPorts } : {}),
            scripts: spec.scripts,
            ...(spec.allowScripts ? { allowScripts: spec.allowScripts } : {}),
            ...(spec.customScripts ? { customScripts: spec.customScripts } : {}),
            extraArgs: spec.extraArgs,
            hostTimeout: spec.hostTimeout,
            kind: spec.kind,
            ...(deps.jobTimeoutMs ? { timeoutMs: deps.jobTimeoutMs } : {}),
          },
          { signal: ctx.signal, onProgress },
        );
    } finally {
      clearInterval(timer);
    }
    if (result.interrupted && result.interruptReason === 'cancelled') {
      throw new PlumError('cancelled', `job ${spec.index} was cancelled; ${other?.name ?? 'nmap'} was stopped`, { hint: 'start a new run to scan again' });
    }
    if (!other && !result.interrupted && result.exitCode !== 0 && !/<host[\s>]/.test(result.xml.toString('utf8'))) {
      const { nmapMessage } = await import('./nmap.ts');
      throw new PlumError('nmap_failed', `nmap failed on job ${spec.index} (exit ${result.exitCode}): ${nmapMessage(result.stderr)}`, {
        hint: 'check the targets and options of the profile; the job is retried',
      });
    }
    const sha256 = createHash('sha256').update(result.xml).digest('hex');
    const sink =
      deps.resultSink ??
      storeResultSink(need(deps.store, 'database or result sink'), { retentionDays: deps.retentionDays, parserVersion: deps.parserVersion, now });
    const { delivery } = await sink.deliver(spec, result.xml, sha256);
    beat({ phase: 'delivered', percent: 100 });
    return {
      runId: spec.runId,
      jobId: spec.jobId,
      sha256,
      size: result.xml.length,
      exitCode: result.exitCode,
      interrupted: result.interrupted,
      durationMs: result.durationMs,
      delivery,
    };
  }

  async function ingestJob(input: { runId: string; jobId: string; interrupted?: boolean }): Promise<JobOutcome> {
    const store = need(deps.store, 'database');
    const job = await jobToIngest(store, input.jobId);
    if (!job || job.run_id !== input.runId) throw new PlumError('not_found', `job ${input.jobId} of run ${input.runId} does not exist`);
    // A scanner other than nmap: its own reader, and the view its fingerprints are compared in.
    const readResult = async (xml: Buffer) => readScannerOutput(job.scanner, xml) ?? { scan: await parseXml(xml), view: undefined };
    if (job.ingested_at) {
      if (job.progress?.ingest) return job.progress.ingest as JobOutcome;
      return countStored(store, job, readResult);
    }
    if (job.stage === 'scout') return scout.ingestScoutJob(job, input.interrupted ?? false);
    const xmlGz = await rawXmlGz(store, input.jobId);
    if (!xmlGz) throw new PlumError('not_found', `no result was delivered for job ${job.index}`, { hint: 'the nmap activity must complete before ingest' });
    const xml = gunzipSync(Buffer.from(xmlGz));
    const read = await readResult(xml);
    const { scan, outside } = await withinJob(read.scan, job.targets, await pinnedAddresses(store, job.run_id));
    if (outside.length > 0) log.warn({ jobId: job.id, outside: outside.slice(0, 20) }, 'hosts outside the job were not stored');
    const summary: IngestSummary = await ingestScanResult(
      store,
      {
        scan,
        scope: { targets: job.targets, tcpPorts: job.tcp_ports, ...(job.udp_ports ? { udpPorts: job.udp_ports } : {}) },
        runId: input.runId,
        jobId: input.jobId,
        rawXml: xml,
        source: deps.runnerName ?? 'run',
        ...(read.view ? { view: read.view } : {}),
        ...(deps.retentionDays !== undefined ? { retentionDays: deps.retentionDays } : {}),
        ...(deps.parserVersion !== undefined ? { parserVersion: deps.parserVersion } : {}),
      },
      deps.ingestDeps ?? {},
    );
    const errors = [...summary.errors, ...(outside.length > 0 ? [outsideMessage(outside)] : [])];
    const outcome: JobOutcome = {
      jobId: job.id,
      index: job.index,
      status: errors.length ? 'partial' : 'succeeded',
      ...changeCountsOf(summary),
      ...(errors.length ? { error: errors.join('; ') } : {}),
    };
    if (outside.length > 0) {
      await markJobPartial(store, job.id, errors.join('; '));
    }
    await recordIngestOutcome(store, job.id, outcome);
    return outcome;
  }

  /**
   * A job ingested elsewhere (an agent's upload through the API): the same
   * counts ingestJob would have returned — hosts, hosts up and open ports from
   * the stored result, changes from the job's events — kept on the job so a
   * repeat returns them unchanged.
   */
  async function countStored(
    store: Store,
    job: { id: string; index: number; address_count: number; error: string | null },
    readResult: (xml: Buffer) => Promise<{ scan: IngestScan }>,
  ): Promise<JobOutcome> {
    const by = await eventCountsOfJob(store, job.id);
    const xmlGz = await rawXmlGz(store, job.id);
    let hosts = 0;
    let hostsUp = 0;
    let ports = 0;
    if (xmlGz) {
      const { scan } = await readResult(gunzipSync(Buffer.from(xmlGz)));
      for await (const host of scan.hosts) {
        hosts++;
        if (hostAnswered(host)) hostsUp++;
        ports += host.ports.filter((p) => p.state === 'open').length;
      }
    } else {
      // The raw result expired: what is still current for this job.
      const open = await openCountsOfJob(store, job.id);
      hosts = job.address_count;
      hostsUp = open.hosts;
      ports = open.ports;
    }
    const outcome: JobOutcome = {
      jobId: job.id,
      index: job.index,
      status: job.error ? 'partial' : 'succeeded',
      hosts,
      hostsUp,
      ports,
      appeared: by.appeared ?? 0,
      changed: by.changed ?? 0,
      gone: by.gone ?? 0,
      reappeared: by.reappeared ?? 0,
      ...(job.error ? { error: job.error } : {}),
    };
    await recordIngestOutcome(store, job.id, outcome);
    return outcome;
  }

  async function failJob(input: { runId: string; jobId: string; error: string }): Promise<void> {
    const store = need(deps.store, 'database');
    await markJobFailed(store, input.runId, input.jobId, input.error, now());
  }

  async function finishRun(input: { runId: string; status: string; counters: object; errors: string[] }): Promise<void> {
    const store = need(deps.store, 'database');
    await recordRunEnd(store, input.runId, { status: input.status, at: now(), counters: input.counters, errors: input.errors });
    if (input.status === 'cancelled') await cancelOpenJobs(store, input.runId, now());
  }

  const scout = createScoutActivities({
    log,
    now,
    ctx: currentCtx,
    ...(deps.store ? { store: deps.store } : {}),
    ...(deps.scanners?.masscan ? { masscan: deps.scanners.masscan } : {}),
    ...(deps.ingestDeps ? { ingestDeps: deps.ingestDeps } : {}),
    ...(deps.runnerName ? { runnerName: deps.runnerName } : {}),
    ...(deps.retentionDays !== undefined ? { retentionDays: deps.retentionDays } : {}),
    ...(deps.jobTimeoutMs ? { jobTimeoutMs: deps.jobTimeoutMs } : {}),
    ...(deps.heartbeatEveryMs ? { heartbeatEveryMs: deps.heartbeatEveryMs } : {}),
    ...(deps.maxJobSize ? { maxJobSize: deps.maxJobSize } : {}),
    sink: () =>
      deps.resultSink ??
      storeResultSink(need(deps.store, 'database or result sink'), { retentionDays: deps.retentionDays, parserVersion: deps.parserVersion, now }),
  });
  return {
    ...planning,
    runNmapJob,
    ingestJob,
    failJob,
    finishRun,
    runScoutJob: scout.runScoutJob,
    planScanStage: scout.planScanStage,
  };
}

/**
 * The Temporal face of the activities: PlumErrors become ApplicationFailures
 * whose type is the error code and whose retryability follows the code
 * (invalid input fails at once; a lost database or agent is retried), and a
 * cancelled activity reports a cancellation.
 */
export function toTemporalActivities<T extends object>(acts: T): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(acts)) {
    if (typeof fn !== 'function') continue;
    out[name] = async (...args: unknown[]) => {
      try {
        return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
      } catch (e) {
        throw toActivityFailure(e);
      }
    };
  }
  return out as T;
}

export function toActivityFailure(e: unknown): Error {
  if (e instanceof ApplicationFailure || e instanceof CancelledFailure) return e;
  const err = toPlumError(e);
  if (err.code === 'cancelled') return new CancelledFailure(err.oneLine());
  return ApplicationFailure.create({
    message: err.oneLine(),
    type: err.code,
    nonRetryable: !err.retryable,
    cause: err,
    ...(err.details ? { details: [err.details] } : {}),
  });
}
