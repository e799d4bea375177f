import type { Command } from 'commander';
import { startServer } from '../../api/server.ts';
import { PlumError } from '../../core/errors.ts';
import type { CliContext } from '../context.ts';
import { info } from '../output.ts';
import { listenForEvents } from '../../store/events-signal.ts';
import { openStore } from '../../store/index.ts';
import { recoverRuns } from './init.ts';

function parsePort(v: string): number {
  if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) {
    throw new PlumError('usage', `invalid --port "${v}"`, { hint: 'use a port number between 0 and 65535' });
  }
  return Number(v);
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('run the HTTP API (docs at /docs, OpenAPI at /openapi.json); Ctrl-C stops it')
    .option('--port <port>', 'TCP port', '8080')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--no-scheduler', "embedded mode: do not run the profiles' schedules in this process")
    .option('--scheduler-interval <seconds>', 'embedded mode: how often to look for due profiles', '30')
    .action(async (opts: { port: string; host: string; scheduler: boolean; schedulerInterval: string }) => {
      const port = parsePort(opts.port);
      const interval = Number(opts.schedulerInterval);
      if (!Number.isInteger(interval) || interval < 1 || interval > 86_400) {
        throw new PlumError('usage', `invalid --scheduler-interval "${opts.schedulerInterval}"`, { hint: 'use a whole number of seconds from 1 to 86400' });
      }
      // A long-running holder of the embedded database shares it over $PLUM_HOME/plum.sock,
      // so other plum commands keep working while the API runs.
      const store = await openStore(ctx.config, { log: ctx.log, share: true });
      ctx.onClose(() => store.close());
      await recoverRuns(ctx, store);
      // Webhook deliveries and event streams wake when events commit, in this process or another.
      const events = await listenForEvents(store, ctx.log);
      ctx.onClose(() => events.close());
      const { buildServeServices } = await import('../../workers/serve-services.ts');
      const services = await buildServeServices({
        store,
        config: ctx.config,
        log: ctx.log,
        events,
        schedulerIntervalMs: opts.scheduler ? interval * 1000 : undefined,
      });
      ctx.onClose(() => services.close());
      const server = await startServer(
        {
          store,
          config: ctx.config,
          log: ctx.log,
          services: services.api,
          events,
          limits: { expensivePerMinute: ctx.config.PLUM_API_EXPENSIVE_PER_MINUTE },
        },
        { host: opts.host, port },
      );
      ctx.onClose(() => server.close());
      info(
        `plum: API listening on ${server.url} (docs ${server.url}/docs; ${services.mode}; database ${store.kind}${store.via === 'socket' ? ' via the holder socket' : ''})`,
      );
      await new Promise<void>((resolve) => {
        const stop = () => {
          info('plum: stopping the API');
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
