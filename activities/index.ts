import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { changeCountsOf } from '../core/counts.ts';
import { PlumError, toPlumError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import type { Logger } from '../core/log.ts';
import { planJobs, type PlannedJob, type PlanTarget } from '../core/plan.ts';
import { parseProfile, type ScanProfile } from '../core/profiles.ts';
import { enforceScope, hostsOutsideJob, recheckNames, type Resolver } from '../core/scope.ts';
import { parseTarget } from '../core/targets.ts';
import type { CustomScriptRef } from '../core/nmap/custom-scripts.ts';
import type { Store } from '../store/index.ts';
import { ingestScanResult, type IngestDeps, type IngestHost, type IngestScan, type IngestSummary } from '../store/ingest.ts';
import {
  cancelOpenJobs,
  insertQueuedJobs,
  jobsInIndexRange,
  jobToIngest,
  markJobFailed,
  markJobPartial,
  markJobRunning,
  pinnedAddresses,
  recordIngestOutcome,
} from '../store/repos/jobs.ts';
import { eventCountsOfJob } from '../store/repos/observation-events.ts';
import { openCountsOfJob } from '../store/repos/observations.ts';
import { rawXmlGz, storeDeliveredResult } from '../store/repos/raw-results.ts';
import { insertScanRun, recordRunEnd, runOfWorkflow, runProgress } from '../store/repos/runs.ts';
import { getProfile } from '../store/repos/profiles.ts';
import { customScriptRefs } from '../store/repos/nse-scripts.ts';
import { loadPerimeter, loadPlanTargets } from '../store/repos/targets.ts';
import type { JobOutcome, JobSpec, NmapJobResult, PlannedRun, RunRequest, ScanActivities } from '../workflows/logic/types.ts';
import type { ScannerName } from '../core/scanner/contract.ts';
import { readScannerOutput } from '../core/scanner/result.ts';
import type { NmapProgress, NmapRunner } from './nmap.ts';
import { runScannerJob } from './scanner-job.ts';
import { planTriggerRun, type RunOrigin } from './trigger-plan.ts';
import { linkFiringsToRun } from '../store/repos/trigger-firings.ts';
import { createScoutActivities, type ScoutingMeta } from './scouting.ts';
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

/** Where runNmapJob hands a job's XML: the server database, or the server's upload route (agents). */
export interface ResultSink {
  deliver(spec: JobSpec, xml: Buffer, sha256: string): Promise<{ delivery: 'stored' | 'uploaded' }>;
  /** Claims the job for this runner before nmap starts (agents: only the claimer may upload). */
  claim?(spec: JobSpec, attempt: number): Promise<void>;
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

/** The default sink: the result goes into raw_results, where ingestJob finds it. */
export function storeResultSink(store: Store, opts: { retentionDays?: number; parserVersion?: number; now?: () => Date } = {}): ResultSink {
  return {
    async deliver(spec, xml, sha256) {
      const now = (opts.now ?? (() => new Date()))();
      const days = opts.retentionDays ?? 90;
      const expires = days > 0 ? new Date(now.getTime() + days * 86_400_000).toISOString() : null;
      await storeDeliveredResult(store, {
        id: newId('raw'),
        jobId: spec.jobId,
        runId: spec.runId,
        sha256,
        size: xml.length,
        xmlGz: gzipSync(xml),
        parserVersion: opts.parserVersion ?? 1,
        expiresAt: expires,
      });
      return { delivery: 'stored' };
    },
  };
}

/** Agents: PUT the gzip'd XML to the server's upload route with the agent token (claim check). */
/** The server's error body as a PlumError; codes caused by the request are kept (not retried), others are `unavailable`. */
async function uploadError(res: Response, what: string): Promise<PlumError> {
  let message = `${res.status} ${res.statusText}`;
  let code: string | undefined;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    if (body.error?.message) message = body.error.message;
    code = body.error?.code;
  } catch {
    // Not our JSON error body: keep the status line.
  }
  const known =
    code && ['conflict', 'forbidden', 'unauthorized', 'not_found', 'payload_too_large', 'invalid_input', 'parse_error', 'out_of_scope'].includes(code);
  return new PlumError(known ? (code as 'conflict') : 'unavailable', `${what}: ${message}`, {
    hint: known ? 'check the agent token and the job' : 'the server is unreachable or busy; the request is retried',
  });
}

export function httpResultSink(opts: { serverUrl: string; token: string; fetchImpl?: typeof fetch }): ResultSink {
  const base = opts.serverUrl.replace(/\/+$/, '');
  return {
    async claim(spec, attempt) {
      const res = await (opts.fetchImpl ?? fetch)(`${base}/v1/agent/jobs/${encodeURIComponent(spec.jobId)}/claim?attempt=${attempt}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${opts.token}` },
      });
      if (!res.ok) throw await uploadError(res, `claiming ${spec.jobId} failed`);
    },
    async deliver(spec, xml) {
      const res = await (opts.fetchImpl ?? fetch)(`${base}/v1/agent/jobs/${encodeURIComponent(spec.jobId)}/result`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${opts.token}`, 'content-type': 'application/xml', 'content-encoding': 'gzip' },
        body: gzipSync(xml),
      });
      if (!res.ok) throw await uploadError(res, `uploading the result of ${spec.jobId} failed`);
      return { delivery: 'uploaded' };
    },
  };
}

async function defaultParse(xml: Buffer): Promise<IngestScan> {
  const { parseNmapString } = await import('../core/nmap/parse.ts');
  return parseNmapString(xml.toString('utf8')) as unknown as IngestScan;
}

function jobKind(targets: string[]): JobSpec['kind'] {
  const first = targets[0] ?? '';
  try {
    const t = parseTarget(first.replace(/-\d+$/, ''));
    if (t.kind === 'fqdn') return 'fqdn';
    return first.includes(':') ? 'ipv6' : 'ipv4';
  } catch {
    return first.includes(':') ? 'ipv6' : 'ipv4';
  }
}

interface RunMeta {
  priority: number;
  hostTimeout: string;
  jobCount: number;
  addressCount: number;
  targetCount: number;
  profile?: string;
  /** Addresses each scanned name resolved to when the scope guard checked it. */
  pinned?: Record<string, string[]>;
  /** Scripts of refused categories an admin allowed on the profile (the runner checks scripts again). */
  allowScripts?: string[];
  /** The custom scripts the run uses, with the content hash they had when it was planned. */
  customScripts?: CustomScriptRef[];
  /** Planned by a worker bridging to the predecessor's agents: the workflow routes each job. */
  legacyBridge?: boolean;
  /** The profile's scanner when it is not nmap. */
  scanner?: ScannerName;
  /** A triggered run: the finding that started it. */
  origin?: RunOrigin;
  /** A two-stage run: the masscan rate, and the profile's scripts and options for the nmap stage. */
  scouting?: ScoutingMeta;
  /** Jobs [0, scoutJobs) are scouting jobs. */
  scoutJobs?: number;
  /** Set once the nmap stage of a two-stage run is planned (store/repos/scouting.ts). */
  scanStage?: boolean;
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

  async function existingRun(store: Store, workflowId: string): Promise<PlannedRun | undefined> {
    const row = await runOfWorkflow<RunMeta>(store, workflowId);
    if (!row) return undefined;
    const m = row.progress;
    return {
      runId: row.id,
      kind: row.kind,
      ...(row.profile_name ? { profile: row.profile_name } : {}),
      priority: m.priority,
      jobCount: m.jobCount,
      addressCount: m.addressCount,
      targetCount: m.targetCount,
      resumed: true,
      ...(m.legacyBridge ? { legacyBridge: true } : {}),
      ...(m.scoutJobs ? { scoutJobs: m.scoutJobs } : {}),
    };
  }

  async function planRun(req: RunRequest): Promise<PlannedRun> {
    const store = need(deps.store, 'database');
    if (!req.workflowId) throw new PlumError('invalid_input', 'a run needs a workflow id', { hint: 'start runs through the embedded runner or a workflow' });
    const found = await existingRun(store, req.workflowId);
    if (found) return found;

    const perimeter = await loadPerimeter(store);
    const excludes: PlanTarget[] = perimeter.excludes.map((t) => ({ value: t, exclude: true }));
    let profile: ScanProfile;
    let profileId: string | null = null;
    let planTargets: PlanTarget[];
    let requested: string[];
    let triggered: Awaited<ReturnType<typeof planTriggerRun>> | undefined;
    if (req.kind === 'profile') {
      const stored = await getProfile(store, req.profile);
      if (stored.trigger) {
        throw new PlumError('invalid_input', `profile ${stored.name} is a trigger profile: it scans what its query matches, not targets`, {
          hint: 'its runs start from new findings (`plum runs --kind trigger`); for a scan of targets use another profile',
        });
      }
      profile = stored;
      profileId = stored.id;
      planTargets = await loadPlanTargets(store);
      requested = [];
    } else if (req.kind === 'trigger') {
      triggered = await planTriggerRun(store, req, excludes, deps.maxJobSize);
      profile = triggered.profile;
      profileId = triggered.profile.id;
      requested = triggered.requested;
      planTargets = [];
    } else {
      if (req.targets.length === 0)
        throw new PlumError('usage', 'an investigation needs at least one target', { hint: 'name the addresses, ranges or names to scan' });
      profile = parseProfile({
        name: 'investigation',
        tcpPorts: req.tcpPorts,
        udpPorts: req.udpPorts ?? null,
        scripts: req.scripts ?? [],
        priority: 4,
      });
      requested = req.targets;
      planTargets = [...req.targets.map((v) => ({ value: parseTarget(v) })), ...excludes];
    }
    // The scope guard runs before anything is stored or scanned: investigations check every requested
    // target, profile runs check their names (addresses are planned from the perimeter itself).
    let planned = triggered?.planned ?? planJobs(profile, planTargets, deps.maxJobSize ? { maxPerJob: deps.maxJobSize } : {});
    // A two-stage profile sweeps its addresses with masscan first, in larger jobs; names go to nmap directly.
    const scouting = req.kind === 'profile' && profile.scouting ? profile.scouting : undefined;
    let scoutJobs = 0;
    if (scouting) {
      const sweeps = planJobs(profile, planTargets, { maxPerJob: deps.scoutJobSize ?? 4096 })
        .filter((j) => j.kind !== 'fqdn')
        .map((j) => ({ ...j, scripts: [], extraArgs: [] }));
      scoutJobs = sweeps.length;
      planned = [...sweeps, ...planned.filter((j) => j.kind === 'fqdn')].map((j, index) => ({ ...j, index }));
    }
    const names = [...new Set(planned.filter((j) => j.kind === 'fqdn').flatMap((j) => j.targets))];
    const toCheck = req.kind === 'profile' ? names : requested;
    const decision =
      toCheck.length > 0
        ? await enforceScope(toCheck, perimeter, {
            resolve: deps.resolve,
            ...(req.scopeOverrideReason ? { override: { reason: req.scopeOverrideReason, by: req.requestedBy } } : {}),
          })
        : undefined;
    if (planned.length === 0) {
      throw new PlumError(
        'invalid_input',
        req.kind === 'profile' ? `profile ${profile.name} selects no targets` : 'nothing left to scan once exclusions are applied',
        {
          hint: req.kind === 'profile' ? 'add targets with `plum target add VALUE`' : 'check the targets against `plum target list`',
          details: { reason: 'no_targets' },
        },
      );
    }

    const customScripts = await customScriptRefs(store, profile.scripts);
    const runId = newId('run');
    const at = now().toISOString();
    const meta: RunMeta = {
      priority: profile.priority,
      hostTimeout: profile.hostTimeout,
      jobCount: planned.length,
      addressCount: planned.reduce((n, j) => n + j.addressCount, 0),
      targetCount: req.kind === 'profile' ? planTargets.filter((t) => !t.exclude).length : requested.length,
      ...(req.kind !== 'investigation' ? { profile: profile.name } : {}),
      ...(triggered ? { origin: triggered.origin } : {}),
      ...(decision ? { pinned: decision.resolved } : {}),
      ...(profile.allowScripts.length ? { allowScripts: profile.allowScripts } : {}),
      ...(customScripts.length ? { customScripts } : {}),
      ...(deps.legacyBridge ? { legacyBridge: true } : {}),
      ...(profile.scanner !== 'nmap' ? { scanner: profile.scanner } : {}),
      ...(scouting ? { scouting: { rate: scouting.rate, scripts: [...profile.scripts], nmapArgs: [...profile.nmapArgs] }, scoutJobs } : {}),
    };
    await store.transaction(async (tx) => {
      await insertScanRun(tx, {
        id: runId,
        kind: req.kind,
        profileId,
        profileName: req.kind !== 'investigation' ? profile.name : null,
        requestedBy: req.requestedBy,
        targets: requested,
        reason: req.kind === 'investigation' ? (req.reason ?? null) : (triggered?.reason ?? null),
        scheduledFor: req.kind === 'profile' ? (req.scheduledFor ?? null) : null,
        startedAt: at,
        scopeOverride: Boolean(decision?.override),
        scopeOverrideReason: decision?.override?.reason ?? null,
        progress: meta,
        workflowId: req.workflowId,
      });
      if (triggered) await linkFiringsToRun(tx, req.workflowId, runId);
      await insertQueuedJobs(
        tx,
        runId,
        planned.map((j: PlannedJob) => ({
          id: newId('job'),
          index: j.index,
          targets: j.targets,
          address_count: j.addressCount,
          tcp_ports: j.tcpPorts,
          udp_ports: j.udpPorts ?? null,
          scripts: j.scripts,
          nmap_args: j.extraArgs,
          stage: j.index < scoutJobs ? 'scout' : 'scan',
        })),
      );
    });
    log.info({ runId, workflowId: req.workflowId, jobs: meta.jobCount, addresses: meta.addressCount }, 'run planned');
    return {
      runId,
      kind: req.kind,
      ...(meta.profile ? { profile: meta.profile } : {}),
      priority: meta.priority,
      jobCount: meta.jobCount,
      addressCount: meta.addressCount,
      targetCount: meta.targetCount,
      resumed: false,
      ...(meta.legacyBridge ? { legacyBridge: true } : {}),
      ...(scoutJobs ? { scoutJobs } : {}),
    };
  }

  async function getJobSpecs(input: { runId: string; fromIndex: number; count: number }): Promise<JobSpec[]> {
    const store = need(deps.store, 'database');
    const progress = await runProgress<RunMeta>(store, input.runId);
    if (!progress) throw new PlumError('not_found', `run ${input.runId} does not exist`);
    const rows = await jobsInIndexRange(store, input.runId, input.fromIndex, input.count);
    return rows.map((r) => ({
      runId: input.runId,
      jobId: r.id,
      index: r.index,
      kind: jobKind(r.targets),
      targets: r.targets,
      addressCount: r.address_count,
      tcpPorts: r.tcp_ports,
      ...(r.udp_ports ? { udpPorts: r.udp_ports } : {}),
      scripts: r.scripts,
      extraArgs: r.nmap_args,
      hostTimeout: progress.hostTimeout ?? '40s',
      priority: progress.priority ?? 2,
      ...(r.ingested_at ? { done: true } : {}),
      ...(r.stage === 'scout' && progress.scouting ? { scout: { rate: progress.scouting.rate } } : {}),
      ...(progress.allowScripts ? { allowScripts: progress.allowScripts } : {}),
      ...(progress.customScripts ? { customScripts: progress.customScripts } : {}),
      ...(progress.scanner ? { scanner: progress.scanner } : {}),
      ...(progress.pinned ? { pinned: Object.fromEntries(r.targets.filter((t) => progress.pinned![t]).map((t) => [t, progress.pinned![t]!])) } : {}),
    }));
  }

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
        if (host.status === 'up' && !host.timedOut) hostsUp++;
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
    planRun,
    getJobSpecs,
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
