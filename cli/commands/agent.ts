import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { PlumError } from '../../core/errors.ts';
import { parseScanHours } from '../../workers/scan-hours.ts';
import type { CliContext } from '../context.ts';
import { info } from '../output.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('agent')
    .description('a scanning agent: polls a Temporal task queue and runs nmap jobs; results go to the Plum server by claim check (no database credentials)')
    .requiredOption('--temporal-address <host:port>', 'Temporal frontend address')
    .option('--task-queue <queue>', 'scan task queue to poll', ctx.config.PLUM_TEMPORAL_SCAN_QUEUE)
    .option('--concurrency <n>', 'nmap jobs at once', '2')
    .option('--scan-hours <start-end>', 'only take jobs between these UTC hours, e.g. 22-06')
    .requiredOption('--server <url>', 'the Plum server (plum serve) that receives results')
    .requiredOption('--token-file <path>', 'file holding the agent token from `plum agent-token create`')
    .option('--name <name>', 'name recorded on the jobs this agent runs')
    .action(async (opts: { temporalAddress: string; taskQueue: string; concurrency: string; scanHours?: string; server: string; tokenFile: string; name?: string }) => {
      // Everything is checked before connecting anywhere.
      const concurrency = Number(opts.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new PlumError('usage', `--concurrency must be 1-64, not "${opts.concurrency}"`);
      const scanHours = opts.scanHours ? parseScanHours(opts.scanHours) : undefined;
      if (!/^[^\s:]+:\d{1,5}$/.test(opts.temporalAddress)) throw new PlumError('usage', `--temporal-address must be HOST:PORT, not "${opts.temporalAddress}"`);
      if (!/^https?:\/\//.test(opts.server)) throw new PlumError('usage', `--server must be an http(s):// URL, not "${opts.server}"`);
      let token: string;
      try {
        token = (await readFile(opts.tokenFile, 'utf8')).trim();
      } catch (e) {
        throw new PlumError('usage', `cannot read the token file ${opts.tokenFile}: ${(e as Error).message}`, { hint: 'create a token with `plum agent-token create NAME` on the server' });
      }
      if (!token) throw new PlumError('usage', `the token file ${opts.tokenFile} is empty`);
      const { runAgent } = await import('../../workers/agent.ts');
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      info(`plum: agent polling ${opts.taskQueue} on ${opts.temporalAddress}${scanHours ? ` between ${opts.scanHours} UTC` : ''}; Ctrl-C to stop`);
      await runAgent({
        temporalAddress: opts.temporalAddress, namespace: ctx.config.PLUM_TEMPORAL_NAMESPACE, taskQueue: opts.taskQueue, concurrency,
        ...(scanHours ? { scanHours } : {}), serverUrl: opts.server, token, nmapPath: ctx.config.PLUM_NMAP, log: ctx.log, signal: ac.signal,
        ...(opts.name ? { name: opts.name } : {}),
      });
    });
}
