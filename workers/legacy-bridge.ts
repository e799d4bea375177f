import os from 'node:os';
import { ActivityCancelledError, ActivityNotFoundError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import type { PlumConfig } from '../core/config.ts';
import { toPlumError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { createBridgeNmapActivity, legacyJobResult } from '../activities/legacy-bridge.ts';
import type { Store } from '../store/index.ts';
import { bridgedJob, bridgedJobs, cancelBridgedJob, releaseBridgeToken, type BridgedJob } from '../store/repos/legacy-bridge.ts';
import { legacyQueueOf } from '../workflows/options.ts';
import { connectWorker } from './temporal-runtime.ts';

/*
 * Distributed mode's bridge to the predecessor's agents, run by `plum serve`
 * when PLUM_LEGACY_BOT_API is on. It is not a scheduler: the workflow routes
 * a job to the legacy queue (activities/legacy-bridge.ts routeNmapJob), this
 * worker takes the attempt and stores its task token on the job, getjob hands
 * the job to an agent, and sndjob's ingest completes the attempt with
 * `resultStored`. Timeouts and retries stay Temporal's.
 *
 * An asynchronously completed attempt learns of a cancellation only from a
 * heartbeat's answer, so the bridge heartbeats every held token on a timer
 * and whenever an agent calls (`touch`); a cancelled attempt cancels its job,
 * and the agent's late result gets 409.
 */

export interface LegacyBridgeHooks {
  /** An agent called (beacon, getjob, sndjob): heartbeat the held attempts soon. */
  touch(): void;
  /** sndjob stored the job's result: complete the attempt the bridge holds for it, if any. */
  resultStored(jobId: string, size: number): Promise<void>;
  /** getjob found the job cannot be handed out (its options fail the checks): fail the attempt, not retried. */
  jobRefused(jobId: string, reason: string): Promise<void>;
}

export interface LegacyBridge extends LegacyBridgeHooks {
  /** Heartbeats every held attempt once (and completes those whose result is in); the timer calls it. */
  sweep(): Promise<void>;
  close(): Promise<void>;
}

/** The bridge's own worker identity, as it appears on the held attempts in the Temporal UI. */
export const bridgeWorkerIdentity = (host = os.hostname()) => `plum-legacy-bridge@${host}`;

const oneLine = (e: unknown) => toPlumError(e).message.split('\n')[0];

export async function startLegacyBridge(deps: { config: PlumConfig; store: Store; log: Logger; client: Client }): Promise<LegacyBridge> {
  const { config, store, log, client } = deps;
  const completion = client.activity;

  /** Completes a held attempt with the stored result; a stale token (the attempt timed out) is only forgotten. */
  async function complete(job: BridgedJob, size = 0): Promise<void> {
    try {
      await completion.complete(job.token, legacyJobResult({ runId: job.runId, jobId: job.id, sha256: job.sha256, startedAt: job.startedAt, size }));
    } catch (e) {
      if (!(e instanceof ActivityNotFoundError)) {
        log.warn({ jobId: job.id, err: oneLine(e) }, "completing a legacy agent's job on Temporal failed; retried on the next heartbeat");
        return;
      }
      // That attempt is over; the next one finds the job ingested and returns at once.
    }
    await releaseBridgeToken(store, job.id, job.token);
  }

  async function heartbeat(job: BridgedJob): Promise<void> {
    try {
      await completion.heartbeat(job.token);
    } catch (e) {
      if (e instanceof ActivityCancelledError) {
        await cancelBridgedJob(store, job.id, job.token);
        await completion.reportCancellation(job.token).catch(() => undefined);
        log.info({ jobId: job.id }, "a legacy agent's job was cancelled on Temporal");
      } else if (e instanceof ActivityNotFoundError) {
        await releaseBridgeToken(store, job.id, job.token);
      } else {
        log.warn({ jobId: job.id, err: oneLine(e) }, "heartbeating a legacy agent's job on Temporal failed");
      }
    }
  }

  let sweeping: Promise<void> | undefined;
  let lastSweep = 0;
  const sweep = (): Promise<void> => {
    sweeping ??= (async () => {
      try {
        for (const job of await bridgedJobs(store)) await (job.ingested ? complete(job) : heartbeat(job));
      } catch (e) {
        log.warn({ err: oneLine(e) }, "the legacy bridge's heartbeat failed");
      } finally {
        lastSweep = Date.now();
        sweeping = undefined;
      }
    })();
    return sweeping;
  };

  const connection = await connectWorker(config, log);
  const acts = createBridgeNmapActivity({ store, log });
  const worker = await Worker.create({
    connection,
    namespace: config.PLUM_TEMPORAL_NAMESPACE,
    taskQueue: legacyQueueOf(config.PLUM_TEMPORAL_SCAN_QUEUE),
    identity: bridgeWorkerIdentity(),
    activities: { runNmapJob: acts.runNmapJob },
    // An attempt frees its slot as soon as its token is stored: the slots bound the handovers in progress, not the jobs held.
    maxConcurrentActivityTaskExecutions: 20,
  });
  const running = worker.run().catch((e: unknown) => log.error({ err: oneLine(e) }, 'the legacy bridge worker stopped'));
  const timer = setInterval(() => void sweep(), config.PLUM_LEGACY_BRIDGE_HEARTBEAT * 1000);
  timer.unref();
  log.info({ taskQueue: legacyQueueOf(config.PLUM_TEMPORAL_SCAN_QUEUE) }, 'legacy bridge running');

  return {
    sweep,
    touch() {
      // Agents poll every few seconds: at most one sweep a second however many call.
      if (Date.now() - lastSweep > 1000) void sweep();
    },
    async resultStored(jobId, size) {
      const job = await bridgedJob(store, jobId);
      if (job?.ingested) await complete(job, size);
    },
    async jobRefused(jobId, reason) {
      const job = await bridgedJob(store, jobId);
      if (!job) return;
      await completion
        .fail(job.token, ApplicationFailure.create({ message: reason, type: 'unsafe_argument', nonRetryable: true }))
        .catch((e: unknown) => log.warn({ jobId, err: oneLine(e) }, 'failing a refused legacy job on Temporal failed'));
      await releaseBridgeToken(store, job.id, job.token);
    },
    async close() {
      clearInterval(timer);
      worker.shutdown();
      await running;
      await sweeping;
      await connection.close();
    },
  };
}
