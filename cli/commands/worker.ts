import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { info } from '../output.ts';
import { openCommandStore } from './init.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('worker')
    .description('the server-side Temporal worker: runs the workflows and the plan/ingest activities (needs PLUM_TEMPORAL_ADDRESS and the database)')
    .option('--scan-too', 'also poll the scan queue and run nmap here (single-host deployment)')
    .option('--concurrency <n>', 'nmap jobs at once with --scan-too', '2')
    .action(async (opts: { scanToo?: boolean; concurrency: string }) => {
      const { runServerWorker } = await import('../../workers/temporal-worker.ts');
      const store = await openCommandStore(ctx, { create: true });
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      info(`plum: worker on ${ctx.config.PLUM_TEMPORAL_ADDRESS ?? '(no address)'} queue ${ctx.config.PLUM_TEMPORAL_TASK_QUEUE}; Ctrl-C to stop`);
      await runServerWorker({ config: ctx.config, store, log: ctx.log, signal: ac.signal, scanToo: opts.scanToo, concurrency: Number(opts.concurrency) || 2 });
    });
}
