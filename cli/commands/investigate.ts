import type { Command } from 'commander';
import { PlumError } from '../../core/errors.ts';
import { enforceScriptPolicy, normalisePortList, parseScriptList } from '../../core/profiles.ts';
import { scriptDbFor } from '../../store/repos/nse-scripts.ts';
import { parseTarget } from '../../core/targets.ts';
import { investigationRequest } from '../../workers/embedded.ts';
import type { CliContext } from '../context.ts';
import { formatOption, info } from '../output.ts';
import { openCommandStore } from './init.ts';
import { concurrencyOption, followOnTemporal, printRunResult, printTemporalResult, runWithProgress } from './run.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('investigate')
    .description('urgent one-off scan of targets inside the perimeter: prints what it found and what is new')
    .argument('<targets...>', 'addresses, CIDR ranges, ranges a-b or names (all inside the declared perimeter)')
    .requiredOption('--ports <list>', 'TCP ports, e.g. 22,80,443 or 1-1024')
    .option('--udp-ports <list>', 'UDP ports')
    .option('--scripts <list>', 'NSE scripts (stock names or plum-banner, plum-favicon), comma separated')
    .option('--reason <text>', 'why, recorded with the run')
    .option('--all', 'list every open service found, not only new and changed ones')
    .option('--temporal', 'start an investigation workflow on Temporal (PLUM_TEMPORAL_ADDRESS) instead of scanning here')
    .option('--scope-override <reason>', 'scan targets outside the perimeter anyway, recording the reason with the run')
    .addOption(formatOption())
    .addOption(concurrencyOption())
    .action(
      async (
        targets: string[],
        opts: {
          ports: string;
          udpPorts?: string;
          scripts?: string;
          reason?: string;
          all?: boolean;
          temporal?: boolean;
          scopeOverride?: string;
          format: string;
          concurrency: string;
        },
      ) => {
        // Validate everything before touching the database or nmap: a refusal scans nothing.
        for (const t of targets) parseTarget(t);
        const tcpPorts = normalisePortList(opts.ports, 'TCP ports');
        const udpPorts = opts.udpPorts ? normalisePortList(opts.udpPorts, 'UDP ports') : undefined;
        const scripts = opts.scripts ? parseScriptList(opts.scripts) : [];
        // On Temporal the worker judges custom scripts when it plans; here, before anything starts.
        if (opts.temporal) enforceScriptPolicy(scripts);
        if (opts.scopeOverride !== undefined && !opts.scopeOverride.trim()) throw new PlumError('usage', '--scope-override needs a reason');
        const request = investigationRequest({
          targets,
          tcpPorts,
          ...(udpPorts ? { udpPorts } : {}),
          scripts,
          ...(opts.reason ? { reason: opts.reason } : {}),
          requestedBy: 'cli',
          ...(opts.scopeOverride ? { scopeOverrideReason: opts.scopeOverride } : {}),
        });
        if (opts.temporal) {
          info(`plum: starting ${request.workflowId} on Temporal`);
          const summary = await followOnTemporal(ctx, request, { priority: 4 });
          await printTemporalResult(ctx, summary, opts.format, { all: opts.all });
          return;
        }
        const store = await openCommandStore(ctx, { create: true });
        // Stock, Plum's and custom scripts (plum nse add), judged before the run is created.
        enforceScriptPolicy(scripts, [], await scriptDbFor(store, scripts));
        const summary = await runWithProgress(ctx, store, request, { concurrency: Number(opts.concurrency), label: 'investigate' });
        await printRunResult(store, summary, opts.format, { all: opts.all });
      },
    );
}
