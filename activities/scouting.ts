import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { changeCountsOf } from '../core/counts.ts';
import { PlumError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { MASSCAN_VIEW } from '../core/masscan/hosts.ts';
import { readMasscanOutput } from '../core/masscan/result.ts';
import type { Scanner } from '../core/scanner/contract.ts';
import { addressesOutsidePerimeter, hostsOutsideJob } from '../core/scope.ts';
import { planScanStage as groupAnswered, inAddressOrder, type AnsweredPair, type ScanStageDropped } from '../core/scout-plan.ts';
import type { Store } from '../store/index.ts';
import { ingestScanResult, type IngestDeps } from '../store/ingest.ts';
import { markJobPartial, markJobRunning, recordIngestOutcome } from '../store/repos/jobs.ts';
import { rawXmlGz } from '../store/repos/raw-results.ts';
import { runProgress } from '../store/repos/runs.ts';
import { appendScanStage, scoutOutputs, type ScanStageSnapshot } from '../store/repos/scouting.ts';
import { loadPerimeter } from '../store/repos/targets.ts';
import type { JobOutcome, JobSpec, NmapJobResult, ScanStagePlan } from '../workflows/logic/types.ts';
import type { ActivityCtx, JobHeartbeat } from './index.ts';
import type { ResultSink } from './result-sinks.ts';

/*
 * The activities of a two-stage profile's run (workflows/logic/scan-run.ts): a scouting job runs masscan where
 * nmap jobs run (an agent, or in-process), its output is ingested server-side into the masscan view, and once
 * every scouting job is done the nmap stage is planned from the (address, port) pairs that answered, on the
 * addresses the perimeter still allows then (an exclusion added during a long sweep is honoured).
 *
 * Gone semantics: a finished scouting job's scope is its targets × the profile's TCP ports, and ingest declares
 * gone only on hosts that answered (masscan lists nothing else), so a host masscan did not reach produces no
 * `gone`; an interrupted job is stored without a scope (nothing gone), a failed one is not stored at all.
 */

export interface ScoutDeps {
  log: Logger;
  store?: Store;
  masscan?: Scanner;
  ingestDeps?: IngestDeps;
  runnerName?: string;
  retentionDays?: number;
  jobTimeoutMs?: number;
  heartbeatEveryMs?: number;
  /** Addresses per nmap job of the second stage (PLUM_JOB_SIZE). */
  maxJobSize?: number;
  now: () => Date;
  ctx(): ActivityCtx;
  sink(): ResultSink;
}

/** Run metadata a two-stage run keeps (activities/plan-run.ts RunMeta.scouting). */
export interface ScoutingMeta extends ScanStageSnapshot {
  rate: number;
}

const need = <T>(v: T | undefined, what: string): T => {
  if (v === undefined) throw new PlumError('internal', `this worker has no ${what}`, { hint: `run this activity on a worker configured with ${what}` });
  return v;
};

export function createScoutActivities(deps: ScoutDeps) {
  async function runScoutJob(spec: JobSpec): Promise<NmapJobResult> {
    const masscan = need(deps.masscan, 'masscan scanner');
    if (!spec.scout) throw new PlumError('usage', `job ${spec.index} is not a scouting job`, { hint: 'run it with runNmapJob' });
    const ctx = deps.ctx();
    const beat = (p: Omit<JobHeartbeat, 'jobId' | 'index'>) => {
      const hb: JobHeartbeat = { jobId: spec.jobId, index: spec.index, ...p };
      last = hb;
      ctx.heartbeat(hb);
    };
    let last: JobHeartbeat | undefined;
    beat({ phase: 'starting', percent: 0 });
    const sink = deps.sink();
    await sink.claim?.(spec, ctx.attempt);
    if (deps.store) {
      await markJobRunning(deps.store, spec.jobId, deps.now(), deps.runnerName ?? null);
    }
    const every = deps.heartbeatEveryMs ?? Math.max(200, Math.min(20_000, Math.floor((ctx.heartbeatTimeoutMs ?? 60_000) / 3)));
    const timer = setInterval(() => ctx.heartbeat(last), every);
    let result;
    try {
      result = await masscan.run(
        {
          targets: spec.targets,
          tcpPorts: spec.tcpPorts,
          options: { rate: spec.scout.rate },
          ...(deps.jobTimeoutMs ? { timeoutMs: deps.jobTimeoutMs } : {}),
        },
        { signal: ctx.signal, onProgress: beat },
      );
    } finally {
      clearInterval(timer);
    }
    if (result.interrupted && result.interruptReason === 'cancelled') {
      throw new PlumError('cancelled', `scouting job ${spec.index} was cancelled; masscan was stopped`, { hint: 'start a new run to scan again' });
    }
    const sha256 = createHash('sha256').update(result.output).digest('hex');
    const { delivery } = await sink.deliver(spec, result.output, sha256);
    beat({ phase: 'delivered', percent: 100, ...(last?.packets !== undefined ? { packets: last.packets } : {}) });
    return {
      runId: spec.runId,
      jobId: spec.jobId,
      sha256,
      size: result.output.length,
      exitCode: result.exitCode,
      interrupted: result.interrupted,
      durationMs: result.durationMs,
      delivery,
    };
  }

  /** Ingests a scouting job's stored output into the masscan view. */
  async function ingestScoutJob(
    job: { id: string; run_id: string; index: number; targets: string[]; tcp_ports: string },
    interrupted: boolean,
  ): Promise<JobOutcome> {
    const store = need(deps.store, 'database');
    const xmlGz = await rawXmlGz(store, job.id);
    if (!xmlGz)
      throw new PlumError('not_found', `no result was delivered for scouting job ${job.index}`, { hint: 'the masscan activity must complete before ingest' });
    const output = gunzipSync(Buffer.from(xmlGz));
    const result = readMasscanOutput(output);
    const outside = new Set(hostsOutsideJob(result.hosts, job.targets, {}));
    if (outside.size > 0) deps.log.warn({ jobId: job.id, outside: [...outside].slice(0, 20) }, 'hosts outside the scouting job were not stored');
    const complete = !interrupted && result.finished && !result.error;
    const summary = await ingestScanResult(
      store,
      {
        scan: {
          run: { ...(result.startedAt ? { startedAt: result.startedAt } : {}), ...(result.endedAt ? { endedAt: result.endedAt } : {}), finished: complete },
          hosts: result.hosts.filter((h) => !outside.has(h.ip)),
        },
        // Without a scope nothing is gone: an interrupted sweep did not look at every pair.
        ...(complete ? { scope: { targets: job.targets, tcpPorts: job.tcp_ports } } : {}),
        runId: job.run_id,
        jobId: job.id,
        rawXml: output,
        source: deps.runnerName ?? 'run',
        view: MASSCAN_VIEW,
        ...(deps.retentionDays !== undefined ? { retentionDays: deps.retentionDays } : {}),
      },
      deps.ingestDeps ?? {},
    );
    const errors = [
      ...summary.errors,
      ...(result.error ? [`masscan output: ${result.error}`] : []),
      ...(!complete ? [`scouting job ${job.index} was stopped before its end: what it found is kept, nothing is declared gone`] : []),
      ...(outside.size > 0 ? [`${outside.size} hosts outside the scouting job not stored`] : []),
    ];
    const outcome: JobOutcome = {
      jobId: job.id,
      index: job.index,
      status: errors.length ? 'partial' : 'succeeded',
      ...changeCountsOf(summary),
      ...(errors.length ? { error: errors.join('; ') } : {}),
    };
    if (errors.length) await markJobPartial(store, job.id, errors.join('; '));
    await recordIngestOutcome(store, job.id, outcome);
    return outcome;
  }

  async function planScanStage(input: { runId: string }): Promise<ScanStagePlan> {
    const store = need(deps.store, 'database');
    const progress = await runProgress<{ scouting?: ScoutingMeta }>(store, input.runId);
    if (!progress) throw new PlumError('not_found', `run ${input.runId} does not exist`);
    const scouting = progress.scouting;
    if (!scouting)
      throw new PlumError('invalid_input', `run ${input.runId} has no scouting stage`, { hint: 'only runs of two-stage profiles plan a second stage' });
    const answered: AnsweredPair[] = [];
    for (const { targets, output } of await scoutOutputs(store, input.runId)) {
      const result = readMasscanOutput(gunzipSync(Buffer.from(output)));
      const outside = new Set(hostsOutsideJob(result.hosts, targets, {}));
      for (const h of result.hosts) {
        if (outside.has(h.ip)) continue;
        for (const p of h.ports) if (p.protocol === 'tcp' && p.state === 'open') answered.push({ ip: h.ip, port: p.port });
      }
    }
    // The scouting jobs' targets were checked when the run was planned, possibly hours ago: an address excluded or
    // no longer declared since then gets no nmap job.
    const refused = addressesOutsidePerimeter(
      answered.map((p) => p.ip),
      await loadPerimeter(store),
    );
    const left = new Set(refused.map((r) => r.address));
    const kept = left.size > 0 ? answered.filter((p) => !left.has(p.ip)) : answered;
    let dropped: ScanStageDropped | undefined;
    if (refused.length > 0) {
      dropped = { count: refused.length, addresses: inAddressOrder(left).slice(0, 10) };
      deps.log.warn(
        { runId: input.runId, dropped: refused.length, sample: refused.slice(0, 20) },
        'answering addresses now excluded or outside the perimeter get no nmap job',
      );
    }
    const jobs = groupAnswered(kept, deps.maxJobSize ?? 256);
    const counts = await appendScanStage(store, input.runId, jobs, { scripts: scouting.scripts, nmapArgs: scouting.nmapArgs }, dropped);
    deps.log.info({ runId: input.runId, pairs: kept.length, jobs: jobs.length }, 'nmap stage planned from the scouting results');
    return counts;
  }

  return { runScoutJob, ingestScoutJob, planScanStage };
}
