import { Option, type Command } from 'commander';
import { hasPrefix } from '../../core/ids.ts';
import { notFound, usageError } from '../../core/errors.ts';
import { RUN_KINDS, RUN_STATUSES, getRun, jobCounts, jobJson, listJobs, listRuns, runJson, type JobRow, type RunRow } from '../../store/repos/runs.ts';
import type { CliContext } from '../context.ts';
import { formatOption, info, printJson, printTable } from '../output.ts';
import { openCommandStore } from './init.ts';

const time = (d: Date | null) => (d ? d.toISOString().replace(/\.\d{3}Z$/, 'Z') : '');
const count = (r: RunRow, k: string) => r.counters?.[k] ?? 0;

const runRow = (r: RunRow) => ({
  id: r.id,
  kind: r.kind,
  profile: r.profile_name ?? '',
  status: r.status,
  started: time(r.started_at ?? r.created_at),
  finished: time(r.finished_at),
  hosts: count(r, 'hosts'),
  ports: count(r, 'ports'),
  // What the run changed in the history, in the order of `plum history`'s event types.
  events: `+${count(r, 'appeared')} ~${count(r, 'changed')} -${count(r, 'gone')} ↺${count(r, 'reappeared')}`,
});

const jobRow = (j: JobRow) => ({
  id: j.id,
  status: j.status,
  targets: j.targets.length > 3 ? `${j.targets.slice(0, 3).join(',')},… (${j.address_count} addresses)` : j.targets.join(','),
  ports: j.tcp_ports,
  finished: time(j.finished_at),
  error: j.error ?? '',
});

export function register(program: Command, ctx: CliContext): void {
  program
    .command('runs')
    .description('scan runs and imports, newest first, with their counters; with a run id, that run and its jobs (status, scope, errors)')
    .argument('[run-id]', 'a run id (run_…): show this run and its jobs')
    .addOption(new Option('--kind <kind>', 'only runs of this kind').choices([...RUN_KINDS]))
    .addOption(new Option('--status <status>', 'only runs with this status').choices([...RUN_STATUSES]))
    .option('--profile <name>', 'only runs of this scan profile')
    .option('--limit <n>', 'at most this many runs', '20')
    .addOption(formatOption())
    .action(async (runId: string | undefined, opts: { kind?: (typeof RUN_KINDS)[number]; status?: string; profile?: string; limit: string; format: 'table' | 'json' }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw usageError(`invalid --limit "${opts.limit}"`, 'give a whole number from 1 to 10000');
      if (runId !== undefined) {
        if (!hasPrefix(runId, 'run')) throw usageError(`"${runId}" is not a run id`, 'run ids start with run_: list them with plum runs');
        if (opts.kind || opts.status || opts.profile) throw usageError('--kind, --status and --profile filter the list of runs', 'give either a run id or filters');
        const store = await openCommandStore(ctx);
        const run = await getRun(store, runId);
        if (!run) throw notFound(`no run ${runId}`, 'list runs with plum runs');
        const jobs = await listJobs(store, runId);
        if (opts.format === 'json') {
          printJson({ run: runJson(run), jobCounts: await jobCounts(store, runId), jobs: jobs.map(jobJson) });
          return;
        }
        const r = runRow(run);
        process.stdout.write(`${run.id}  ${run.kind}${run.profile_name ? ` ${run.profile_name}` : ''}  ${run.status}\n`
          + `started ${r.started || '-'}  finished ${r.finished || '-'}${run.requested_by ? `  requested by ${run.requested_by}` : ''}\n`
          + `${r.hosts} hosts, ${r.ports} open ports; events ${r.events} (+appeared ~changed -gone ↺reappeared)\n`
          + (run.reason ? `reason: ${run.reason}\n` : '') + (run.error ? `error: ${run.error}\n` : '') + '\n');
        printTable(jobs.map(jobRow), ['id', 'status', 'targets', 'ports', 'finished', 'error']);
        if (jobs.some((j) => j.error)) info('plum: plum raw JOB_ID gives back the nmap XML a job returned');
        return;
      }
      const store = await openCommandStore(ctx);
      const { items, more } = await listRuns(store, { kind: opts.kind, status: opts.status, profile: opts.profile, limit });
      if (opts.format === 'json') printJson(items.map(runJson));
      else printTable(items.map(runRow), ['id', 'kind', 'profile', 'status', 'started', 'finished', 'hosts', 'ports', 'events']);
      if (more) info(`plum: showing the newest ${limit} runs; raise --limit or filter with --kind, --status or --profile for more`);
    });
}
