import type { Command } from 'commander';
import { Option } from 'commander';
import { PlumError, usageError } from '../../core/errors.ts';
import { parseQuery } from '../../core/query/index.ts';
import { resolvePeriod } from '../../core/report/period.ts';
import { reportSettingsOf } from '../../activities/report-settings.ts';
import { createSmtpMailer, generateReport, runReportDefinition, writeReportFile, type ReportDeps } from '../../activities/report.ts';
import {
  createReportDefinition,
  deleteReportDefinition,
  listReportDefinitions,
  parseDestination,
  type ReportDefinitionRow,
} from '../../store/repos/reports.ts';
import { webhooksOfReport } from '../../store/repos/webhooks.ts';
import { saveReport } from '../../api/views/reports.ts';
import type { Store } from '../../store/index.ts';
import type { CliContext } from '../context.ts';
import { formatOption, info, printJson, printTable } from '../output.ts';
import { openCommandStore } from './init.ts';

const collect = (v: string, prev: string[]) => [...prev, v];

const defJson = (d: ReportDefinitionRow) => ({
  id: d.id,
  name: d.name,
  description: d.description,
  query: d.query,
  every: d.every,
  period: d.period ?? d.every,
  destinations: d.destinations,
  host_limit: d.hostLimit,
  enabled: d.enabled,
  last_run_at: d.lastRunAt?.toISOString() ?? null,
  last_status: d.lastStatus,
  last_error: d.lastError,
  next_run_at: d.nextRunAt?.toISOString() ?? null,
});

function parseHostLimit(v: string | undefined): number {
  if (v === undefined) return 0;
  if (!/^\d+$/.test(v)) throw usageError(`invalid --host-limit "${v}"`, 'use a whole number; 0 lists every host');
  return Number(v);
}

export async function reportDeps(ctx: CliContext, store: Store): Promise<ReportDeps> {
  return { store, config: ctx.config, log: ctx.log, sendMail: createSmtpMailer(ctx.config) };
}

export function register(program: Command, ctx: CliContext): void {
  // `plum report` has its own options (--query, --to…) and subcommands with the
  // same option names (`report add --query … --to dir:…`). Commander hands a
  // subcommand its options only when option parsing is positional at every
  // level above it, root included. The root has no options of its own besides
  // --help/--version, so this changes nothing for other commands.
  program.enablePositionalOptions();
  const report = program
    .command('report')
    .description('write a Markdown report on a query and period (what is exposed, what appeared, changed, went away or came back); manage scheduled reports')
    .enablePositionalOptions()
    .option('--query <q>', 'structured query (same language as `plum search`); default: everything')
    .option('--since <duration>', 'period length ending now (30d, 12h, 2w); default 30d')
    .option('--from <date>', 'period start (YYYY-MM-DD or ISO-8601)')
    .option('--to <date>', 'period end (inclusive day, or ISO-8601; default now)')
    .option('--out <file>', 'write the report to a file (default: standard output)')
    .option('--title <text>', 'report title')
    .option('--host-limit <n>', 'list at most N hosts (highest scores first); 0 = all', '0')
    .addOption(new Option('--format <format>', 'markdown, or json for the report model').choices(['markdown', 'json']).default('markdown'))
    .action(async (opts: { query?: string; since?: string; from?: string; to?: string; out?: string; title?: string; hostLimit?: string; format: string }) => {
      // Validate everything before touching the database or printing progress.
      const hostLimit = parseHostLimit(opts.hostLimit);
      if (opts.query?.trim()) parseQuery(opts.query);
      const period = resolvePeriod({ since: opts.since, from: opts.from, to: opts.to });
      const store = await openCommandStore(ctx);
      const started = Date.now();
      info('plum: building the report…');
      const { model, markdown } = await generateReport(store, {
        query: opts.query,
        period,
        title: opts.title,
        hostLimit,
        ...(await reportSettingsOf(ctx.config, ctx.log)),
      });
      const text = opts.format === 'json' ? `${JSON.stringify(model, null, 2)}\n` : markdown;
      if (opts.out) {
        await writeReportFile(opts.out, text);
        info(`plum: wrote ${opts.out} (${model.totals.hosts} hosts, ${model.totals.ports} open ports, ${Date.now() - started} ms)`);
      } else {
        process.stdout.write(text);
      }
    });

  report
    .command('add')
    .description('store a scheduled report: query, cadence, recipients (dir:PATH, webhook:URL, mailto:ADDR)')
    .argument('<name>', 'report name (letters, digits, . - _)')
    .option('--query <q>', 'structured query; default: everything', '')
    .requiredOption('--every <duration>', 'cadence, e.g. 1d or 7d; the report covers the same length of time')
    .option('--period <duration>', 'period covered if different from the cadence (e.g. 30d every 7d)')
    .option('--to <destination>', 'recipient: dir:PATH, webhook:URL or mailto:ADDR (repeatable)', collect, [] as string[])
    .option('--description <text>', 'description shown under the title')
    .option('--host-limit <n>', 'list at most N hosts; 0 = all', '0')
    .addOption(formatOption())
    .action(
      async (name: string, opts: { query: string; every: string; period?: string; to: string[]; description?: string; hostLimit?: string; format: string }) => {
        if (opts.query.trim()) parseQuery(opts.query);
        const destinations = opts.to.map(parseDestination);
        if (destinations.some((d) => d.kind === 'mailto') && !ctx.config.PLUM_SMTP_URL) {
          info('plum: note: mailto: recipients need PLUM_SMTP_URL set when the report runs');
        }
        const store = await openCommandStore(ctx, { create: true });
        const { def, hooks } = await saveReport(
          store,
          {
            name,
            query: opts.query,
            every: opts.every,
            period: opts.period,
            destinations: opts.to,
            description: opts.description,
            hostLimit: parseHostLimit(opts.hostLimit),
          },
          { allowPrivate: ctx.config.PLUM_WEBHOOK_ALLOW_PRIVATE, allowDirectories: true },
        );
        if (opts.format === 'json') {
          printJson({ ...defJson(def), webhooks: hooks.map((h) => ({ id: h.id, name: h.name, url: h.url, secret: h.secret })) });
          return;
        }
        info(`plum: report ${def.name} stored (${def.id}); every ${def.every}, next run ${def.nextRunAt?.toISOString()}`);
        for (const h of hooks) info(`plum: webhook ${h.name} → ${h.url}; signing secret (shown once): ${h.secret}`);
      },
    );

  report
    .command('list')
    .description('list stored reports with their last outcome and next run')
    .addOption(formatOption())
    .action(async (opts: { format: string }) => {
      const store = await openCommandStore(ctx);
      const defs = await listReportDefinitions(store);
      if (opts.format === 'json') {
        printJson(defs.map(defJson));
        return;
      }
      printTable(
        defs.map((d) => ({
          ...defJson(d),
          destinations: d.destinations.join(' '),
          last: d.lastRunAt ? `${d.lastStatus} ${d.lastRunAt.toISOString().slice(0, 16)}` : 'never',
          next: d.nextRunAt?.toISOString().slice(0, 16) ?? '',
          query: d.query || '(everything)',
        })),
        ['name', 'every', 'query', 'destinations', 'last', 'next', 'last_error'],
      );
    });

  report
    .command('rm')
    .description('remove a stored report (and the webhooks tied to it)')
    .argument('<name>', 'report name or id')
    .addOption(formatOption())
    .action(async (name: string, opts: { format: string }) => {
      const store = await openCommandStore(ctx);
      const removed = await deleteReportDefinition(store, name);
      if (opts.format === 'json') printJson({ removed: defJson(removed) });
      else info(`plum: removed report ${removed.name}`);
    });

  report
    .command('run')
    .description('run a stored report now and deliver it (or --preview: print it without delivering; same text)')
    .argument('<name>', 'report name or id')
    .option('--preview', 'print the report without delivering it or changing its schedule', false)
    .option('--out <file>', 'also write the report to this file')
    .addOption(formatOption())
    .action(async (name: string, opts: { preview: boolean; out?: string; format: string }) => {
      const store = await openCommandStore(ctx);
      const r = await runReportDefinition(await reportDeps(ctx, store), name, { preview: opts.preview });
      if (opts.out) await writeReportFile(opts.out, r.markdown);
      if (opts.format === 'json') {
        printJson({ report: r.definition.name, status: r.status, period: r.model.period, totals: r.model.totals, deliveries: r.deliveries });
      } else if (opts.preview) {
        if (!opts.out) process.stdout.write(r.markdown);
      } else {
        for (const d of r.deliveries) info(`plum: ${d.ok ? 'delivered' : 'FAILED'} ${d.destination}: ${d.detail}`);
        if (r.deliveries.length === 0) info('plum: the report has no recipients; add some with `plum report add … --to dir:PATH` (or use --preview)');
        info(`plum: report ${r.definition.name}: ${r.status} (${r.model.totals.hosts} hosts, ${r.model.totals.ports} open ports)`);
      }
      if (r.status === 'failed' || r.status === 'partial') {
        const hooks = await webhooksOfReport(store, r.definition.id);
        throw new PlumError('unavailable', `report ${r.definition.name} was not delivered to every recipient`, {
          hint: hooks.length
            ? 'see `plum webhook list` for webhook failures (they are retried with backoff)'
            : 'check the destinations with `plum report list`',
        });
      }
    });
}
