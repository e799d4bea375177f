import type { PlumConfig } from '../core/config.ts';
import { PlumError, toPlumError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { Store } from '../store/index.ts';
import type { IngestDeps } from '../store/ingest.ts';
import { defaultIngestDeps, investigationRequest, runEmbedded, type EmbeddedDeps } from './embedded.ts';
import { createEmbeddedScheduler } from './scheduler.ts';
import { startWebhookDispatcher } from './webhook-dispatcher.ts';
import { alreadyStarted, startTriggerDispatcher } from './trigger-dispatcher.ts';
import { systemResolver } from '../activities/nmap.ts';
import type { EventsSignal } from '../store/events-signal.ts';
import { createSmtpMailer } from '../activities/report.ts';
import type { RunRequest, RunSummary } from '../workflows/logic/types.ts';
import { listProfiles } from '../store/repos/profiles.ts';
import { listReportDefinitions } from '../store/repos/reports.ts';
import { runIdOfWorkflow, workflowIdOfRun } from '../store/repos/runs.ts';
import type { ApiServices } from '../api/context.ts';

export interface ServeServices {
  api: ApiServices;
  /** How runs execute: the embedded runner in this process, or Temporal workflows. */
  mode: string;
  close(): Promise<void>;
}

type InvestigationInput = Parameters<NonNullable<ApiServices['startInvestigation']>>[0];

/**
 * Embedded mode: investigations and scheduled profile runs execute in this
 * process through the embedded runner (the same run logic Temporal executes).
 * The investigation route gets the run id as soon as the run is planned; the
 * scan continues in the background. Every run has its own AbortController, so
 * `cancelRun` kills that run's nmap processes and nothing else.
 */
export function embeddedServices(deps: Omit<EmbeddedDeps, 'signal' | 'onEvent'> & { schedulerIntervalMs?: number }): {
  api: ApiServices;
  close(): Promise<void>;
  running: Map<string, Promise<unknown>>;
  /** Starts a run in the background; resolves with its run id once planned (triggered runs: workers/trigger-dispatcher.ts). */
  startRun(request: RunRequest): Promise<string>;
} {
  const controllers = new Map<string, AbortController>();
  const running = new Map<string, Promise<unknown>>();
  let ingestDeps: Promise<IngestDeps> | undefined;
  let closing = false;

  /** Starts a run in the background; resolves with its run id once planned, rejects if planning fails. */
  function launch(request: RunRequest): { runId: Promise<string>; done: Promise<RunSummary> } {
    ingestDeps ??= deps.ingestDeps ? Promise.resolve(deps.ingestDeps) : defaultIngestDeps(deps.store, deps.config);
    const ctrl = new AbortController();
    let planned!: (runId: string) => void;
    let failed!: (e: unknown) => void;
    const runId = new Promise<string>((resolve, reject) => {
      planned = resolve;
      failed = reject;
    });
    runId.catch(() => undefined);
    let wasPlanned = false;
    const done = (async () =>
      runEmbedded(
        {
          ...deps,
          ingestDeps: await ingestDeps!,
          signal: ctrl.signal,
          onEvent: (e) => {
            if (e.type === 'planned') {
              wasPlanned = true;
              controllers.set(e.plan.runId, ctrl);
              running.set(
                e.plan.runId,
                done.catch(() => undefined),
              );
              planned(e.plan.runId);
            }
          },
        },
        request,
      ))();
    done
      .then(
        (summary) => deps.log.info({ runId: summary.runId, status: summary.status }, 'run finished'),
        (e) => {
          failed(e);
          // A run refused before it was planned (no targets, out of scope) is its caller's error to report:
          // the API answers it, the scheduler logs it. One that failed later has no one else to tell.
          deps.log[wasPlanned ? 'warn' : 'debug']({ err: toPlumError(e).message, workflowId: request.workflowId }, 'run failed');
        },
      )
      .finally(async () => {
        const id = await runId.catch(() => undefined);
        if (id) {
          controllers.delete(id);
          running.delete(id);
        }
      });
    return { runId, done };
  }

  const scheduler = deps.schedulerIntervalMs
    ? createEmbeddedScheduler({
        store: deps.store,
        log: deps.log,
        startRun: (request) => launch(request).done,
        // Due reports and webhook events on the same tick (errors are logged, never stop the profiles).
        reports: { config: deps.config, sendMail: createSmtpMailer(deps.config) },
      })
    : undefined;
  const ticking = scheduler?.start(deps.schedulerIntervalMs);

  const api: ApiServices = {
    async startInvestigation(input: InvestigationInput) {
      if (closing) throw new PlumError('unavailable', 'the server is stopping', { hint: 'retry once it is back' });
      const { runId } = launch(investigationRequest({ ...input, tcpPorts: input.tcpPorts ?? '1-1024' }));
      return { runId: await runId };
    },
    async cancelRun(runId: string) {
      const ctrl = controllers.get(runId);
      if (!ctrl) {
        throw new PlumError('conflict', `run ${runId} is not running in this server`, {
          hint: 'cancel it from the process that runs it (the plum command or Temporal)',
        });
      }
      ctrl.abort();
      // Wait for the runner to record the cancellation (nmap killed, run marked cancelled).
      await running.get(runId);
    },
    ...(scheduler
      ? {
          // The scheduler reads the profiles on every tick; a tick now applies a change at once.
          profileChanged: async () => {
            void scheduler.tick().catch((e) => deps.log.warn({ err: toPlumError(e).message }, 'scheduler tick failed'));
          },
        }
      : {}),
  };
  return {
    api,
    running,
    startRun(request) {
      if (closing) return Promise.reject(new PlumError('unavailable', 'the server is stopping', { hint: 'the run starts at the next start' }));
      return launch(request).runId;
    },
    async close() {
      closing = true;
      for (const c of controllers.values()) c.abort();
      await ticking?.stop();
      await Promise.allSettled([...running.values()]);
    },
  };
}

/**
 * Distributed mode (tested against a real dev server in
 * test/temporal-live.test.ts; kept thin over the Temporal client). The
 * investigation starts as a workflow; the API never scans. The run row is
 * written by the workflow's planRun activity, so the route waits briefly for it.
 */
async function temporalServices(deps: { store: Store; config: PlumConfig; log: Logger }): Promise<{
  api: ApiServices;
  close(): Promise<void>;
  startRun(request: RunRequest): Promise<void>;
}> {
  const { connectTemporal, startRunWorkflow } = await import('./temporal-client.ts');
  const { syncSchedules } = await import('./temporal-schedules.ts');
  const { verifyJobClaimOnTemporal } = await import('./job-claims.ts');
  const { client, close } = await connectTemporal(deps.config);
  // The predecessor's agents get jobs the workflows route to them through this process's bridge.
  const bridge = deps.config.PLUM_LEGACY_BOT_API ? await (await import('./legacy-bridge.ts')).startLegacyBridge({ ...deps, client }) : undefined;
  const waitForRun = async (workflowId: string): Promise<string> => {
    for (let i = 0; i < 100; i++) {
      const runId = await runIdOfWorkflow(deps.store, workflowId);
      if (runId) return runId;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new PlumError('timeout', `the investigation workflow ${workflowId} started but did not plan its run within 10 s`, {
      hint: 'check that a plum worker is running (plum worker) and look the workflow up in the Temporal UI',
    });
  };
  return {
    api: {
      async startInvestigation(input) {
        const request = investigationRequest({ ...input, tcpPorts: input.tcpPorts ?? '1-1024' });
        await startRunWorkflow(client, deps.config, request, { priority: 4 });
        return { runId: await waitForRun(request.workflowId) };
      },
      async cancelRun(runId) {
        const workflowId = await workflowIdOfRun(deps.store, runId);
        if (!workflowId) throw new PlumError('conflict', `run ${runId} has no workflow to cancel`);
        await client.workflow.getHandle(workflowId).cancel();
      },
      verifyJobClaim: (claim) => verifyJobClaimOnTemporal(client, deps.config.PLUM_TEMPORAL_NAMESPACE, claim),
      ...(bridge ? { legacyBridge: bridge } : {}),
      // One Temporal schedule per profile: make them match the stored profiles.
      async profileChanged() {
        await syncSchedules(client, await listProfiles(deps.store), deps.config, { reports: await listReportDefinitions(deps.store) });
      },
    },
    // A triggered run's workflow id is its claim's: a second start of the same claim is refused by Temporal.
    async startRun(request) {
      try {
        await startRunWorkflow(client, deps.config, request);
      } catch (e) {
        throw alreadyStarted(e) ?? e;
      }
    },
    async close() {
      await bridge?.close();
      await close();
    },
  };
}

/** Firings of trigger profiles become runs (workers/trigger-dispatcher.ts), woken by each commit of new events. */
function triggerDispatcher(deps: { store: Store; config: PlumConfig; log: Logger; events?: EventsSignal }, start: (request: RunRequest) => Promise<unknown>) {
  return startTriggerDispatcher({
    store: deps.store,
    log: deps.log,
    perHour: deps.config.PLUM_TRIGGER_RUNS_PER_HOUR,
    resolve: systemResolver,
    ...(deps.events ? { events: deps.events } : {}),
    start: async (request) => {
      await start(request);
    },
  });
}

/**
 * What `plum serve` plugs into the routes. Without PLUM_TEMPORAL_ADDRESS the
 * same process runs the embedded runner; with it, runs start as Temporal
 * workflows and this process never scans.
 */
export async function buildServeServices(deps: {
  store: Store;
  config: PlumConfig;
  log: Logger;
  schedulerIntervalMs?: number;
  /** When given, webhook deliveries leave as soon as events commit (both modes). */
  events?: EventsSignal;
}): Promise<ServeServices> {
  // Agent uploads are tagged and scored like every other ingest.
  const ingestDeps = await defaultIngestDeps(deps.store, deps.config);
  const dispatcher = deps.events
    ? startWebhookDispatcher({
        store: deps.store,
        log: deps.log,
        events: deps.events,
        webhook: { allowPrivate: deps.config.PLUM_WEBHOOK_ALLOW_PRIVATE, flapping: deps.config.PLUM_FLAPPING },
      })
    : undefined;
  const withDispatcher = (close: () => Promise<void>) => async () => {
    await close();
    await dispatcher?.stop();
  };
  if (deps.config.PLUM_TEMPORAL_ADDRESS) {
    const t = await temporalServices(deps);
    const triggers = triggerDispatcher(deps, t.startRun);
    return {
      api: { ...t.api, ingestDeps },
      mode: `runs on Temporal at ${deps.config.PLUM_TEMPORAL_ADDRESS}`,
      close: withDispatcher(async () => {
        await triggers.stop();
        await t.close();
      }),
    };
  }
  const e = embeddedServices({ ...deps, ingestDeps });
  // Triggered runs are scheduling: they start in the process that runs the scheduler.
  const triggers = deps.schedulerIntervalMs ? triggerDispatcher(deps, e.startRun) : undefined;
  return {
    api: { ...e.api, ingestDeps },
    mode: deps.schedulerIntervalMs
      ? `embedded runner and scheduler (every ${Math.round(deps.schedulerIntervalMs / 1000)} s)`
      : 'embedded runner, scheduler off',
    close: withDispatcher(async () => {
      await triggers?.stop();
      await e.close();
    }),
  };
}
