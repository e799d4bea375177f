import { createSmtpMailer } from '../activities/report.ts';
import { PlumError, toPlumError } from '../core/errors.ts';
import type { RunRequest } from '../workflows/logic/types.ts';
import { investigationRequest, runEmbedded, type EmbeddedDeps, type InvestigationInput } from './embedded.ts';
import { createEmbeddedScheduler } from './scheduler.ts';

/*
 * What `plum serve` needs from the embedded runner (api/context.ts
 * ApiServices): start an investigation in the background and answer with its
 * run id at once, cancel a run, and the embedded scheduler for profile cycles.
 */
export function createEmbeddedServices(deps: Omit<EmbeddedDeps, 'signal' | 'onEvent'>) {
  const inFlight = new Map<string, AbortController>();

  /** Starts a run in the background; resolves with its run id once it is planned (scope refusals reject). */
  function startRun(request: RunRequest): Promise<{ runId: string; done: Promise<unknown> }> {
    const ac = new AbortController();
    return new Promise((resolve, reject) => {
      let runId: string | undefined;
      const done = runEmbedded({
        ...deps, signal: ac.signal,
        onEvent: (e) => {
          if (e.type === 'planned') {
            runId = e.plan.runId;
            inFlight.set(runId, ac);
            resolve({ runId, done });
          }
        },
      }, request).then((summary) => summary, (e: unknown) => {
        if (!runId) reject(e);
        else deps.log.error({ runId, err: toPlumError(e).oneLine() }, 'background run failed');
      }).finally(() => {
        if (runId) inFlight.delete(runId);
      });
    });
  }

  return {
    async startInvestigation(input: InvestigationInput & { requestedBy: string }): Promise<{ runId: string }> {
      const { runId } = await startRun(investigationRequest(input));
      return { runId };
    },
    async cancelRun(runId: string): Promise<void> {
      const ac = inFlight.get(runId);
      if (!ac) throw new PlumError('not_found', `run ${runId} is not running in this server`, { hint: 'list runs to see which are in progress' });
      ac.abort();
    },
    scheduler: createEmbeddedScheduler({
      store: deps.store, log: deps.log,
      startRun: (request) => runEmbedded(deps, request),
      reports: { config: deps.config, sendMail: createSmtpMailer(deps.config) },
    }),
    startRun,
  };
}
