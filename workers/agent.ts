/*
 * The agent worker: connects to a Temporal frontend and to the Plum server's
 * upload route (tested against a real dev server in
 * test/temporal-live.test.ts). Its activities are runNmapJob (and runScoutJob, masscan) from
 * createActivities with the HTTP result sink.
 *
 * An agent needs the Temporal address, a task queue and its agent token —
 * never database credentials: results travel by claim check (PUT to the
 * server, ids through Temporal).
 */
import os from 'node:os';
import { Worker } from '@temporalio/worker';
import type { PlumConfig } from '../core/config.ts';
import { PlumError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { createActivities, toTemporalActivities } from '../activities/index.ts';
import { httpResultSink } from '../activities/result-sinks.ts';
import { configuredScanners } from '../activities/scanners.ts';
import { createNmapRunner } from '../activities/nmap.ts';
import { httpScriptSource } from '../activities/nse-source.ts';
import { agentWorkerIdentity } from './job-claims.ts';
import { inScanWindow, msUntilWindowChange, type ScanWindow } from './scan-hours.ts';
import { connectWorker } from './temporal-runtime.ts';
import { PLUM_VERSION } from '../core/version.ts';
import { urgentQueueOf } from '../workflows/options.ts';

export interface AgentOptions {
  /** Connection settings (TLS, API key) and the log level. */
  config: PlumConfig;
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  concurrency: number;
  /** Slots reserved for urgent work (investigations) on the taskQueue's urgent queue; 0: none. Default 1. */
  urgentSlots?: number;
  scanHours?: ScanWindow;
  serverUrl: string;
  token: string;
  nmapPath: string;
  log: Logger;
  signal: AbortSignal;
  name?: string;
  /** The clock the scan window is read from (tests shift it to open or close the window in seconds). */
  now?: () => Date;
}

function postHeartbeat(opts: AgentOptions, body: { currentJobId?: string | null }): Promise<Response> {
  return fetch(`${opts.serverUrl.replace(/\/+$/, '')}/v1/agent/heartbeat`, {
    method: 'POST',
    headers: { authorization: `Bearer ${opts.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ version: PLUM_VERSION, ...body }),
  });
}

async function heartbeatServer(opts: AgentOptions, body: { currentJobId?: string | null }): Promise<void> {
  try {
    await postHeartbeat(opts, body);
  } catch (e) {
    opts.log.warn({ err: (e as Error).message }, 'agent heartbeat to the server failed');
  }
}

/**
 * The agent name the server gives this token (first heartbeat), retried until the server answers. The
 * agent's Temporal workers carry it in their identity: the server accepts a job claim only from the agent
 * whose worker Temporal dispatched the job to (workers/job-claims.ts).
 */
async function agentNameOfToken(opts: AgentOptions): Promise<string | undefined> {
  for (let wait = 1000; !opts.signal.aborted; wait = Math.min(wait * 2, 30_000)) {
    try {
      const res = await postHeartbeat(opts, {});
      if (res.status === 401 || res.status === 403) {
        throw new PlumError('unauthorized', `the Plum server at ${opts.serverUrl} refused the agent token (${res.status})`, {
          hint: 'create one with `plum agent-token create --agent NAME` and pass its file with --token-file',
        });
      }
      if (res.ok) return ((await res.json()) as { agent: { name: string } }).agent.name;
      opts.log.warn({ status: res.status }, 'the Plum server did not answer the agent heartbeat: retrying');
    } catch (e) {
      if (e instanceof PlumError) throw e;
      opts.log.warn({ err: (e as Error).message }, 'the Plum server is unreachable: retrying');
    }
    await sleep(wait, opts.signal);
  }
  return undefined;
}

export async function runAgent(opts: AgentOptions): Promise<void> {
  const connection = await connectWorker(opts.config, opts.log, opts.temporalAddress);
  let agentName: string | undefined;
  try {
    agentName = await agentNameOfToken(opts);
  } catch (e) {
    await connection.close();
    throw e;
  }
  if (agentName === undefined) {
    await connection.close();
    return;
  }
  if (opts.name && opts.name.toLowerCase() !== agentName) {
    opts.log.warn({ name: opts.name, agent: agentName }, "the token belongs to another agent name than --name: jobs are claimed as the token's agent");
  }
  const identity = agentWorkerIdentity(agentName);
  const acts = toTemporalActivities(
    createActivities({
      log: opts.log,
      nmap: createNmapRunner({ nmapPath: opts.nmapPath, log: opts.log, scriptSource: httpScriptSource({ serverUrl: opts.serverUrl, token: opts.token }) }),
      // sslscan for TLS profiles; masscan for scouting jobs, with this agent's network settings (PLUM_MASSCAN_*).
      scanners: configuredScanners(opts.config, { log: opts.log }),
      resultSink: httpResultSink({ serverUrl: opts.serverUrl, token: opts.token }),
      runnerName: opts.name ?? os.hostname(),
    }),
  );
  const beat = setInterval(() => void heartbeatServer(opts, {}), 60_000);
  try {
    while (!opts.signal.aborted) {
      const now = opts.now?.() ?? new Date();
      if (opts.scanHours && !inScanWindow(opts.scanHours, now)) {
        const wait = msUntilWindowChange(opts.scanHours, now);
        opts.log.info({ minutes: Math.round(wait / 60_000) }, 'outside the scan hours: waiting');
        await sleep(wait, opts.signal);
        continue;
      }
      const workerFor = (taskQueue: string, slots: number) =>
        Worker.create({
          connection,
          namespace: opts.namespace,
          taskQueue,
          identity,
          activities: { runNmapJob: acts.runNmapJob, runScoutJob: acts.runScoutJob },
          maxConcurrentActivityTaskExecutions: slots,
          // A job still running when the window closes is allowed to finish.
          shutdownGraceTime: '8h',
        });
      // The urgent queue has a worker of its own: its slot stays free while profile runs fill the others.
      const urgentSlots = opts.urgentSlots ?? 1;
      const workers = [
        await workerFor(opts.taskQueue, opts.concurrency),
        ...(urgentSlots > 0 ? [await workerFor(urgentQueueOf(opts.taskQueue), urgentSlots)] : []),
      ];
      const windowEnd = opts.scanHours ? msUntilWindowChange(opts.scanHours, now) : Number.POSITIVE_INFINITY;
      const until = sleep(windowEnd, opts.signal);
      await Promise.all(workers.map((w) => w.runUntil(until)));
    }
  } finally {
    clearInterval(beat);
    await connection.close();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = Number.isFinite(ms) ? setTimeout(resolve, Math.min(ms, 2 ** 31 - 1)) : undefined;
    signal.addEventListener(
      'abort',
      () => {
        if (t) clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });
}
