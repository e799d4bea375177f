import { Option, type Command } from 'commander';
import { hasPrefix, idTime } from '../../core/ids.ts';
import { PlumError, notFound, usageError } from '../../core/errors.ts';
import { markInterrupted, requestCancel, type RunOwner } from '../../store/repos/run-owners.ts';
import { ownerState } from '../../workers/run-owner.ts';
import {
  RUN_KINDS,
  RUN_STATUSES,
  getRun,
  jobCounts,
  jobJson,
  listJobs,
  listRuns,
  runJson,
  runOrigin,
  type JobRow,
  type RunRow,
} from '../../store/repos/runs.ts';
import type { Store } from '../../store/index.ts';
import { readLock } from '../../store/lock.ts';
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
  stage: j.stage === 'scout' ? 'scout (masscan)' : 'scan (nmap)',
  status: j.status,
  targets: j.targets.length > 3 ? `${j.targets.slice(0, 3).join(',')},… (${j.address_count} addresses)` : j.targets.join(','),
  ports: j.tcp_ports,
  finished: time(j.finished_at),
  error: j.error ?? '',
});

/** What the job's ingest stored differently from how its result lists it (store/ingest.ts). */
const jobWarnings = (j: JobRow): string[] => {
  const w = (j.progress as { warnings?: unknown }).warnings;
  return Array.isArray(w) ? w.filter((x): x is string => typeof x === 'string') : [];
};

/** How long `plum runs cancel` waits for the owning process to record the cancellation. */
const CANCEL_WAIT_MS = 30_000;

/**
 * `plum runs cancel RUN_ID`: an embedded run whose process is gone is marked
 * at once; a live one is asked through the database (its process polls) and
 * the command waits until it has stopped nmap and recorded the end.
 */
async function cancelRun(ctx: CliContext, runId: string, opts: { wait: boolean }): Promise<void> {
  if (!hasPrefix(runId, 'run')) throw usageError(`"${runId}" is not a run id`, 'run ids start with run_: list them with plum runs --status running');
  let store: Store;
  try {
    store = await openCommandStore(ctx);
  } catch (e) {
    // PGlite held by `plum run`/`investigate`/`ingest` (they do not share the database): the run is that process's.
    if (!(e instanceof PlumError && e.code === 'locked')) throw e;
    const reopened = await interruptHolder(ctx, runId, opts.wait);
    if (!reopened) return;
    const run = await getRun(reopened, runId);
    if (!run) throw notFound(`no run ${runId}`, 'list runs with plum runs');
    info(`plum: run ${runId} ${run.status}`);
    return;
  }
  const run = await getRun(store, runId);
  if (!run) throw notFound(`no run ${runId}`, 'list runs with plum runs --status running');
  if (!['queued', 'running'].includes(run.status)) {
    throw new PlumError('conflict', `run ${runId} is already ${run.status}`, { hint: 'only queued or running runs can be cancelled' });
  }
  const owner = (run.progress as { owner?: RunOwner }).owner;
  if (!owner) {
    throw new PlumError('conflict', `run ${runId} is not run by a plum process (a Temporal run)`, {
      hint: `cancel it through the server: POST /v1/runs/${runId}/cancel`,
    });
  }
  if (ownerState(owner) === 'gone') {
    await markInterrupted(store, runId, `cancelled: the process that ran it (pid ${owner.pid} on ${owner.host}) was already gone`, new Date());
    info(`plum: run ${runId} cancelled (its process, pid ${owner.pid}, was already gone)`);
    return;
  }
  await requestCancel(store, runId, new Date());
  info(`plum: asked pid ${owner.pid} on ${owner.host} to cancel run ${runId}`);
  if (!opts.wait) return;
  const deadline = Date.now() + CANCEL_WAIT_MS;
  for (;;) {
    const now = await getRun(store, runId);
    if (now && !['queued', 'running'].includes(now.status)) {
      info(`plum: run ${runId} ${now.status}`);
      return;
    }
    if (Date.now() > deadline) {
      throw new PlumError('timeout', `run ${runId} is still ${now?.status ?? 'running'} after ${CANCEL_WAIT_MS / 1000} s`, {
        hint: `its process (pid ${owner.pid} on ${owner.host}) has been asked to stop; check again with plum runs ${runId}`,
      });
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * The embedded database is held by the process running the run: Ctrl-C it
 * (SIGINT: it stops nmap and records the run as cancelled), wait until it has
 * let the database go, and open it.
 */
async function interruptHolder(ctx: CliContext, runId: string, wait: boolean): Promise<Store | undefined> {
  const holder = readLock(ctx.config.home);
  if (!holder || !/\b(run|investigate|ingest)\b/.test(holder.command ?? '')) {
    throw new PlumError(
      'locked',
      `the embedded database in ${ctx.config.home} is in use by ${holder ? `pid ${holder.pid} (${holder.command ?? 'plum'})` : 'another process'}`,
      {
        hint: 'cancel the run from the process that runs it (Ctrl-C), or try again when it has finished',
      },
    );
  }
  // Run ids are time-sorted: a run made before the holder started is not its run (a typo must not stop it).
  const made = idTime(runId);
  if (!made || made.getTime() < new Date(holder.startedAt).getTime() - 1000) {
    throw new PlumError('locked', `run ${runId} is not the run of pid ${holder.pid} (${holder.command}), which holds the embedded database`, {
      hint: 'check the run id; a run left running by a process that is gone is marked as interrupted once the database is free',
    });
  }
  process.kill(holder.pid, 'SIGINT');
  info(`plum: sent Ctrl-C (SIGINT) to pid ${holder.pid} (${holder.command}) to cancel run ${runId}`);
  if (!wait) return undefined;
  const deadline = Date.now() + CANCEL_WAIT_MS;
  for (;;) {
    try {
      return await openCommandStore(ctx);
    } catch (e) {
      if (!(e instanceof PlumError && e.code === 'locked') || Date.now() > deadline) throw e;
    }
  }
}

/** A triggered run's origin: the query and the finding that fired it. */
function originLines(run: RunRow): string {
  const o = runOrigin(run);
  if (!o) return '';
  const more = o.firings > 1 ? ` (and ${o.firings - 1} more finding${o.firings === 2 ? '' : 's'})` : '';
  return `triggered by: ${o.query}\nfinding:      ${o.ip} ${o.protocol}/${o.port} observation ${o.observationId} (firing ${o.firingId})${more}\n`;
}

export function register(program: Command, ctx: CliContext): void {
  const runs = program
    .command('runs')
    .description('scan runs and imports, newest first, with their counters; with a run id, that run and its jobs (status, scope, errors)')
    .argument('[run-id]', 'a run id (run_…): show this run and its jobs')
    .addOption(new Option('--kind <kind>', 'only runs of this kind').choices([...RUN_KINDS]))
    .addOption(new Option('--status <status>', 'only runs with this status').choices([...RUN_STATUSES]))
    .option('--profile <name>', 'only runs of this scan profile')
    .option('--limit <n>', 'at most this many runs', '20')
    .addOption(formatOption())
    .action(
      async (
        runId: string | undefined,
        opts: { kind?: (typeof RUN_KINDS)[number]; status?: string; profile?: string; limit: string; format: 'table' | 'json' },
      ) => {
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw usageError(`invalid --limit "${opts.limit}"`, 'give a whole number from 1 to 10000');
        if (runId !== undefined) {
          if (!hasPrefix(runId, 'run')) throw usageError(`"${runId}" is not a run id`, 'run ids start with run_: list them with plum runs');
          if (opts.kind || opts.status || opts.profile)
            throw usageError('--kind, --status and --profile filter the list of runs', 'give either a run id or filters');
          const store = await openCommandStore(ctx);
          const run = await getRun(store, runId);
          if (!run) throw notFound(`no run ${runId}`, 'list runs with plum runs');
          const jobs = await listJobs(store, runId);
          if (opts.format === 'json') {
            printJson({ run: runJson(run), jobCounts: await jobCounts(store, runId), jobs: jobs.map(jobJson) });
            return;
          }
          const r = runRow(run);
          process.stdout.write(
            `${run.id}  ${run.kind}${run.profile_name ? ` ${run.profile_name}` : ''}  ${run.status}\n` +
              `started ${r.started || '-'}  finished ${r.finished || '-'}${run.requested_by ? `  requested by ${run.requested_by}` : ''}\n` +
              `${r.hosts} hosts, ${r.ports} open ports; events ${r.events} (+appeared ~changed -gone ↺reappeared)\n` +
              (run.reason && run.kind !== 'trigger' ? `reason: ${run.reason}\n` : '') +
              originLines(run) +
              (run.error ? `error: ${run.error}\n` : '') +
              '\n',
          );
          // The stage column only where a run has two (a two-stage profile's masscan sweeps, then nmap).
          const staged = jobs.some((j) => j.stage === 'scout');
          printTable(
            jobs.map(jobRow),
            staged ? ['id', 'stage', 'status', 'targets', 'ports', 'finished', 'error'] : ['id', 'status', 'targets', 'ports', 'finished', 'error'],
          );
          for (const j of jobs) {
            for (const w of jobWarnings(j)) process.stdout.write(`note: ${j.id}: ${w}\n`);
          }
          if (jobs.some((j) => j.error)) info('plum: plum raw JOB_ID gives back the nmap XML a job returned');
          return;
        }
        const store = await openCommandStore(ctx);
        const { items, more } = await listRuns(store, { kind: opts.kind, status: opts.status, profile: opts.profile, limit });
        if (opts.format === 'json') printJson(items.map(runJson));
        else printTable(items.map(runRow), ['id', 'kind', 'profile', 'status', 'started', 'finished', 'hosts', 'ports', 'events']);
        if (more) info(`plum: showing the newest ${limit} runs; raise --limit or filter with --kind, --status or --profile for more`);
      },
    );

  runs
    .command('cancel')
    .description('cancel a queued or running run: its process stops nmap and records it as cancelled (a run whose process is gone is marked at once)')
    .argument('<run-id>', 'the run id (run_…)')
    .option('--no-wait', 'do not wait for the run to stop')
    .action((runId: string, opts: { wait: boolean }) => cancelRun(ctx, runId, opts));
}
