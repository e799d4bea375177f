import type { Command } from 'commander';
import { listProfiles } from '../../store/repos/profiles.ts';
import { listReportDefinitions } from '../../store/repos/reports.ts';
import type { CliContext } from '../context.ts';
import { formatOption, info, printJson, printTable } from '../output.ts';
import { openCommandStore } from './init.ts';

export function register(program: Command, ctx: CliContext): void {
  const schedule = program.command('schedule').description('Temporal Schedules, one per profile and one per report definition (needs PLUM_TEMPORAL_ADDRESS)');
  schedule
    .command('sync')
    .description(
      'create, update, pause and delete Temporal Schedules to match the profiles and report definitions (idempotent; overlap skip; bounded catch-up)',
    )
    .option('--dry-run', 'show what would change without changing anything')
    .addOption(formatOption())
    .action(async (opts: { dryRun?: boolean; format: string }) => {
      const store = await openCommandStore(ctx);
      const profiles = await listProfiles(store);
      const reports = await listReportDefinitions(store);
      const { connectTemporal } = await import('../../workers/temporal-client.ts');
      const { syncSchedules } = await import('../../workers/temporal-schedules.ts');
      const { client, close } = await connectTemporal(ctx.config);
      ctx.onClose(close);
      const results = await syncSchedules(client, profiles, ctx.config, { dryRun: opts.dryRun, reports });
      if (opts.format === 'json') printJson(results);
      else {
        printTable(results as unknown as Record<string, unknown>[], ['schedule', 'action']);
        info(`plum: ${results.filter((r) => r.action !== 'unchanged').length} change(s)${opts.dryRun ? ' (dry run, nothing changed)' : ''}`);
      }
    });
  schedule
    .command('list')
    .description('the Plum schedules on Temporal with their next and last action')
    .addOption(formatOption())
    .action(async (opts: { format: string }) => {
      const { connectTemporal } = await import('../../workers/temporal-client.ts');
      const { listSchedules } = await import('../../workers/temporal-schedules.ts');
      const { client, close } = await connectTemporal(ctx.config);
      ctx.onClose(close);
      const rows = await listSchedules(client);
      if (opts.format === 'json') printJson(rows);
      else printTable(rows, ['schedule', 'paused', 'next', 'recent']);
    });
}
