import type { Command } from 'commander';
import { defaultIngestDeps, runEmbedded } from '../../workers/embedded.ts';
import { createEmbeddedScheduler } from '../../workers/scheduler.ts';
import { startWebhookDispatcher } from '../../workers/webhook-dispatcher.ts';
import { startTriggerDispatcher } from '../../workers/trigger-dispatcher.ts';
import { systemResolver } from '../../activities/nmap.ts';
import type { RunRequest } from '../../workflows/logic/types.ts';
import { listenForEvents } from '../../store/events-signal.ts';
import type { CliContext } from '../context.ts';
import { info } from '../output.ts';
import { summaryLine } from './run.ts';
import { openCommandStore } from './init.ts';
import { reportDeps } from './report.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('scheduler')
    .description('run each enabled profile once per cycle, in this process (embedded mode; schedule state is kept in the database)')
    .option('--interval <seconds>', 'how often to look for due profiles', '30')
    .option('--concurrency <n>', 'jobs in flight per run', '4')
    .option('--once', 'start what is due, wait for it, and exit')
    .action(async (opts: { interval: string; concurrency: string; once?: boolean }) => {
      const store = await openCommandStore(ctx, { share: !opts.once, create: true });
      const ingestDeps = await defaultIngestDeps(store, ctx.config);
      const ac = new AbortController();
      // Due report definitions and webhook events run on the same tick as the profiles.
      const { store: _store, log: _log, ...reports } = await reportDeps(ctx, store);
      const scheduler = createEmbeddedScheduler({
        store,
        log: ctx.log,
        reports,
        startRun: async (request) => {
          info(`plum: starting ${request.workflowId}`);
          const summary = await runEmbedded(
            { store, config: ctx.config, log: ctx.log, ingestDeps, maxInFlight: Number(opts.concurrency) || 4, signal: ac.signal },
            request,
          );
          info(`plum: ${summaryLine(summary)}`);
          return summary;
        },
      });
      // Triggered runs (trigger profiles' firings) start in the background: resolved once planned.
      const triggered = new Set<Promise<unknown>>();
      const startTriggered = (request: RunRequest) =>
        new Promise<void>((resolve, reject) => {
          info(`plum: starting ${request.workflowId}`);
          const done = runEmbedded(
            {
              store,
              config: ctx.config,
              log: ctx.log,
              ingestDeps,
              maxInFlight: Number(opts.concurrency) || 4,
              signal: ac.signal,
              onEvent: (e) => {
                if (e.type === 'planned') resolve();
              },
            },
            request,
          ).then((summary) => info(`plum: ${summaryLine(summary)}`), reject);
          triggered.add(done);
          void done.finally(() => triggered.delete(done));
        });
      const triggers = (events?: Parameters<typeof startTriggerDispatcher>[0]['events']) =>
        startTriggerDispatcher({
          store,
          log: ctx.log,
          perHour: ctx.config.PLUM_TRIGGER_RUNS_PER_HOUR,
          resolve: systemResolver,
          start: startTriggered,
          ...(events ? { events } : {}),
        });
      if (opts.once) {
        const once = triggers();
        await once.pass();
        await once.stop();
        const results = await scheduler.tick();
        for (const r of results)
          info(`plum: ${r.profile}: ${r.action}${r.slot ? ` (${r.slot})` : ''}${r.skipped ? `, ${r.skipped.length} missed slot(s) skipped` : ''}`);
        const h = scheduler.lastHousekeeping();
        for (const r of h?.reports ?? []) info(`plum: report ${r.report}: ${r.status}`);
        if (h?.webhookDeliveries) info(`plum: ${h.webhookDeliveries} webhook deliver${h.webhookDeliveries === 1 ? 'y' : 'ies'} sent`);
        for (const err of h?.errors ?? []) info(`plum: ${err}`);
        await scheduler.idle();
        while (triggered.size > 0) await Promise.allSettled([...triggered]);
        return;
      }
      const handle = scheduler.start(Math.max(5, Number(opts.interval) || 30) * 1000);
      // Webhook events leave when they commit, not at the next tick.
      const events = await listenForEvents(store, ctx.log);
      const dispatcher = startWebhookDispatcher({
        store,
        log: ctx.log,
        events,
        webhook: { allowPrivate: ctx.config.PLUM_WEBHOOK_ALLOW_PRIVATE, flapping: ctx.config.PLUM_FLAPPING },
      });
      const triggerDispatcher = triggers(events);
      info('plum: scheduler running; Ctrl-C stops it (runs in flight are cancelled and resumed at the next start)');
      await new Promise<void>((resolve) => {
        const stop = () => {
          ac.abort();
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await handle.stop();
      await triggerDispatcher.stop();
      await Promise.allSettled([...triggered]);
      await dispatcher.stop();
      await events.close();
    });
}
