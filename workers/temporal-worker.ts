/*
 * The server worker: connects to a Temporal frontend (tested against a real
 * dev server in test/temporal-live.test.ts). It runs workflows/ (also covered
 * by the bundle, lint and replay tests) and createActivities.
 */
import { Worker, type InjectedSinks } from '@temporalio/worker';
import type { PlumConfig } from '../core/config.ts';
import type { Logger } from '../core/log.ts';
import { createActivities, toTemporalActivities } from '../activities/index.ts';
import { configuredScanners } from '../activities/scanners.ts';
import { createNmapRunner, systemResolver } from '../activities/nmap.ts';
import { storeScriptSource } from '../store/repos/nse-scripts.ts';
import { createLegacyRouteActivities } from '../activities/legacy-bridge.ts';
import { createReportActivities, createSmtpMailer } from '../activities/report.ts';
import type { Store } from '../store/index.ts';
import type { RunEvent } from '../workflows/logic/types.ts';
import type { PlumSinks } from '../workflows/temporal-run.ts';
import { urgentQueueOf } from '../workflows/options.ts';
import { defaultIngestDeps } from './embedded.ts';
import { connectWorker } from './temporal-runtime.ts';
import { projectPath } from '../core/project-root.ts';

export const WORKFLOWS_PATH = projectPath('workflows', 'index.ts');

/** Run events the workflows report through the `progress` sink, logged by the worker (never during replay). */
function progressSinks(log: Logger): InjectedSinks<PlumSinks> {
  return {
    progress: {
      event: {
        fn(info, e: RunEvent) {
          const at = { workflowId: info.workflowId, event: e.type };
          if (e.type === 'planned') log.info({ ...at, runId: e.plan.runId, jobs: e.plan.jobCount }, 'run planned');
          else if (e.type === 'job-finished') log.debug({ ...at, job: e.outcome.index, status: e.outcome.status }, 'job finished');
          else if (e.type === 'finished') log.info({ ...at, runId: e.summary.runId, status: e.summary.status }, 'run finished');
        },
        callDuringReplay: false,
      },
    },
  };
}

/**
 * The server worker: runs the workflows and the server activities (plan,
 * ingest, bookkeeping, report definitions) on PLUM_TEMPORAL_TASK_QUEUE. With `scanToo`, it also
 * polls the scan queue and runs nmap itself (a one-host deployment).
 */
export async function runServerWorker(opts: {
  config: PlumConfig;
  store: Store;
  log: Logger;
  signal: AbortSignal;
  scanToo?: boolean;
  concurrency?: number;
}): Promise<void> {
  const { config, store, log } = opts;
  const connection = await connectWorker(config, log);
  try {
    const ingestDeps = await defaultIngestDeps(store, config);
    const nmap = createNmapRunner({ nmapPath: config.PLUM_NMAP, log, scriptSource: storeScriptSource(store) });
    const activities = toTemporalActivities(
      createActivities({
        log,
        store,
        nmap,
        scanners: configuredScanners(config, { log }),
        ingestDeps,
        resolve: systemResolver,
        retentionDays: config.PLUM_RAW_RETENTION_DAYS,
        runnerName: 'server',
        maxJobSize: config.PLUM_JOB_SIZE,
        legacyBridge: config.PLUM_LEGACY_BOT_API,
        scoutJobSize: config.PLUM_SCOUT_JOB_SIZE,
      }),
    );
    // Bridged runs ask where each job goes (the predecessor's agents or Plum's).
    const routeActivities = toTemporalActivities(createLegacyRouteActivities({ store, timeoutSeconds: config.PLUM_LEGACY_JOB_TIMEOUT }));
    // reportWorkflow's activities: the same runReportDefinition as the embedded scheduler and a preview.
    const reportActivities = toTemporalActivities(createReportActivities({ store, config, log, sendMail: createSmtpMailer(config) }));
    const server = await Worker.create({
      connection,
      namespace: config.PLUM_TEMPORAL_NAMESPACE,
      taskQueue: config.PLUM_TEMPORAL_TASK_QUEUE,
      workflowsPath: WORKFLOWS_PATH,
      activities: { ...activities, ...routeActivities, ...reportActivities },
      sinks: progressSinks(log),
    });
    const workers = [server];
    if (opts.scanToo) {
      // Like an agent: the scan queue, and one slot of its own for investigations.
      for (const [taskQueue, slots] of [
        [config.PLUM_TEMPORAL_SCAN_QUEUE, opts.concurrency ?? 2],
        [urgentQueueOf(config.PLUM_TEMPORAL_SCAN_QUEUE), 1],
      ] as const) {
        workers.push(
          await Worker.create({
            connection,
            namespace: config.PLUM_TEMPORAL_NAMESPACE,
            taskQueue,
            activities: { runNmapJob: activities.runNmapJob, runScoutJob: activities.runScoutJob },
            maxConcurrentActivityTaskExecutions: slots,
          }),
        );
      }
    }
    log.info({ taskQueue: config.PLUM_TEMPORAL_TASK_QUEUE, scanToo: Boolean(opts.scanToo) }, 'server worker running');
    const stop = new Promise<void>((resolve) => opts.signal.addEventListener('abort', () => resolve(), { once: true }));
    await Promise.all(workers.map((w) => w.runUntil(stop)));
  } finally {
    await connection.close();
  }
}
