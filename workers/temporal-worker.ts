/*
 * LIVE-SERVER CODE — connects to a Temporal frontend; not exercised by the
 * test suite (no Temporal server on the project's machines). What it runs is:
 * workflows/ (bundle, lint and replay tests) and createActivities (activity
 * and end-to-end tests). See deploy/README.md for a run against a real server.
 */
import { fileURLToPath } from 'node:url';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { PlumConfig } from '../core/config.ts';
import { PlumError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { createActivities, toTemporalActivities } from '../activities/index.ts';
import { createNmapRunner, systemResolver } from '../activities/nmap.ts';
import { createReportActivities, createSmtpMailer } from '../activities/report.ts';
import { loadScoreConfig, scoreFileOf } from '../core/score.ts';
import type { Store } from '../store/index.ts';
import { defaultIngestDeps } from './embedded.ts';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

async function connect(address: string | undefined): Promise<NativeConnection> {
  if (!address) throw new PlumError('usage', 'no Temporal address', { hint: 'set PLUM_TEMPORAL_ADDRESS=HOST:PORT or pass --temporal-address' });
  try {
    return await NativeConnection.connect({ address });
  } catch (e) {
    throw new PlumError('unavailable', `cannot reach Temporal at ${address}: ${(e as Error).message}`, { hint: 'check the address and that the frontend runs' });
  }
}

/**
 * The server worker: runs the workflows and the server activities (plan,
 * ingest, bookkeeping, report definitions) on PLUM_TEMPORAL_TASK_QUEUE. With `scanToo`, it also
 * polls the scan queue and runs nmap itself (a one-host deployment).
 */
export async function runServerWorker(opts: { config: PlumConfig; store: Store; log: Logger; signal: AbortSignal; scanToo?: boolean; concurrency?: number }): Promise<void> {
  const { config, store, log } = opts;
  const connection = await connect(config.PLUM_TEMPORAL_ADDRESS);
  try {
    const ingestDeps = await defaultIngestDeps(store, config);
    const nmap = createNmapRunner({ nmapPath: config.PLUM_NMAP, log });
    const activities = toTemporalActivities(createActivities({
      log, store, nmap, ingestDeps, resolve: systemResolver, retentionDays: config.PLUM_RAW_RETENTION_DAYS, runnerName: 'server',
    }));
    // reportWorkflow's activities: the same runReportDefinition as the embedded scheduler and a preview.
    const scoreConfig = await loadScoreConfig(scoreFileOf(config)).catch((e: unknown) => {
      log.warn({ err: (e as Error).message }, 'score weights unavailable; host score = highest port score');
      return undefined;
    });
    const reportActivities = toTemporalActivities(createReportActivities({ store, config, log, sendMail: createSmtpMailer(config), scoreConfig }));
    const server = await Worker.create({
      connection, namespace: config.PLUM_TEMPORAL_NAMESPACE, taskQueue: config.PLUM_TEMPORAL_TASK_QUEUE,
      workflowsPath: WORKFLOWS_PATH, activities: { ...activities, ...reportActivities },
    });
    const workers = [server];
    if (opts.scanToo) {
      workers.push(await Worker.create({
        connection, namespace: config.PLUM_TEMPORAL_NAMESPACE, taskQueue: config.PLUM_TEMPORAL_SCAN_QUEUE,
        activities: { runNmapJob: activities.runNmapJob }, maxConcurrentActivityTaskExecutions: opts.concurrency ?? 2,
      }));
    }
    log.info({ taskQueue: config.PLUM_TEMPORAL_TASK_QUEUE, scanToo: Boolean(opts.scanToo) }, 'server worker running');
    const stop = new Promise<void>((resolve) => opts.signal.addEventListener('abort', () => resolve(), { once: true }));
    await Promise.all(workers.map((w) => w.runUntil(stop)));
  } finally {
    await connection.close();
  }
}
