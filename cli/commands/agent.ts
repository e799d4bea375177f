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
    .option('--temporal-address <host:port>', 'Temporal frontend address (default PLUM_TEMPORAL_ADDRESS)', ctx.config.PLUM_TEMPORAL_ADDRESS)
    .option('--task-queue <queue>', 'scan task queue to poll', ctx.config.PLUM_TEMPORAL_SCAN_QUEUE)
    .option('--concurrency <n>', 'nmap jobs at once', '2')
    .option('--urgent-slots <n>', "extra slots kept for investigations (the task queue's -urgent queue); 0: none", '1')
    .option('--scan-hours <start-end>', 'only take jobs between these UTC hours, e.g. 22-06')
    .requiredOption('--server <url>', 'the Plum server (plum serve) that receives results')
    .requiredOption('--token-file <path>', 'file holding the agent token from `plum agent-token create`')
    .option(
      '--name <name>',
      "a name for this agent's own logs (runner name); jobs are claimed and recorded as its token's agent, and a warning says when the two differ",
    )
    .option('--check', 'check the Plum server, the token, nmap and Temporal, print one line per problem, and exit (non-zero on a problem)')
    .action(
      async (opts: {
        temporalAddress?: string;
        taskQueue: string;
        concurrency: string;
        urgentSlots: string;
        scanHours?: string;
        server: string;
        tokenFile: string;
        name?: string;
        check?: boolean;
      }) => {
        // Everything is checked before connecting anywhere.
        const concurrency = Number(opts.concurrency);
        if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)
          throw new PlumError('usage', `--concurrency must be 1-64, not "${opts.concurrency}"`);
        const urgentSlots = Number(opts.urgentSlots);
        if (!Number.isInteger(urgentSlots) || urgentSlots < 0 || urgentSlots > 16)
          throw new PlumError('usage', `--urgent-slots must be 0-16, not "${opts.urgentSlots}"`);
        const scanHours = opts.scanHours ? parseScanHours(opts.scanHours) : undefined;
        if (!opts.temporalAddress)
          throw new PlumError('usage', 'no Temporal address', { hint: 'pass --temporal-address HOST:PORT or set PLUM_TEMPORAL_ADDRESS' });
        if (!/^[^\s:]+:\d{1,5}$/.test(opts.temporalAddress))
          throw new PlumError('usage', `--temporal-address must be HOST:PORT, not "${opts.temporalAddress}"`);
        if (!/^https?:\/\//.test(opts.server)) throw new PlumError('usage', `--server must be an http(s):// URL, not "${opts.server}"`);
        let token: string;
        try {
          token = (await readFile(opts.tokenFile, 'utf8')).trim();
        } catch (e) {
          throw new PlumError('usage', `cannot read the token file ${opts.tokenFile}: ${(e as Error).message}`, {
            hint: 'create a token with `plum agent-token create --agent NAME` on the server',
          });
        }
        if (!token) throw new PlumError('usage', `the token file ${opts.tokenFile} is empty`);
        if (opts.check) {
          const { checkAgent } = await import('../../workers/agent-check.ts');
          const problems = await checkAgent({
            config: ctx.config,
            temporalAddress: opts.temporalAddress,
            serverUrl: opts.server,
            token,
            nmapPath: ctx.config.PLUM_NMAP,
          });
          for (const p of problems) info(`plum: ${p}`);
          if (problems.length) process.exitCode = 1;
          else
            info(
              `plum: agent check passed: Plum server ${opts.server}, token, nmap, Temporal ${opts.temporalAddress} namespace ${ctx.config.PLUM_TEMPORAL_NAMESPACE}`,
            );
          return;
        }
        const { runAgent } = await import('../../workers/agent.ts');
        const ac = new AbortController();
        const stop = () => ac.abort();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        const queues = urgentSlots > 0 ? `${opts.taskQueue} and ${opts.taskQueue}-urgent` : opts.taskQueue;
        info(`plum: agent polling ${queues} on ${opts.temporalAddress}${scanHours ? ` between ${opts.scanHours} UTC` : ''}; Ctrl-C to stop`);
        await runAgent({
          config: ctx.config,
          temporalAddress: opts.temporalAddress,
          namespace: ctx.config.PLUM_TEMPORAL_NAMESPACE,
          taskQueue: opts.taskQueue,
          concurrency,
          urgentSlots,
          ...(scanHours ? { scanHours } : {}),
          serverUrl: opts.server,
          token,
          nmapPath: ctx.config.PLUM_NMAP,
          log: ctx.log,
          signal: ac.signal,
          ...(opts.name ? { name: opts.name } : {}),
        });
      },
    );
}
