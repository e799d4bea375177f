import { Option, type Command } from 'commander';
import { PlumError } from '../../core/errors.ts';
import { getProfile } from '../../store/repos/profiles.ts';
import type { Store } from '../../store/index.ts';
import { profileRequest, runEmbedded, type EmbeddedDeps } from '../../workers/embedded.ts';
import { runFindings, runGone, type RunFinding } from '../findings.ts';
import { createProgressDisplay, temporalProgressLine } from '../progress.ts';
import type { RunRequest, RunSummary } from '../../workflows/logic/types.ts';
import type { RunProgress } from '../../workflows/temporal-run.ts';
import type { CliContext } from '../context.ts';
import { formatOption, info, printJson, printTable } from '../output.ts';
import { openCommandStore } from './init.ts';

/** --concurrency N: jobs in flight. */
export function concurrencyOption(): Option {
  return new Option('--concurrency <n>', 'jobs scanned at the same time').default('4').argParser((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new PlumError('usage', `--concurrency must be a whole number from 1 to 64, not "${v}"`);
    return String(n);
  });
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Runs a request in this process with progress on stderr; Ctrl-C cancels (nmap is killed, the run is recorded as cancelled). */
export async function runWithProgress(
  ctx: CliContext,
  store: Store,
  request: RunRequest,
  opts: { concurrency?: number; label: string; quiet?: boolean } & Partial<EmbeddedDeps>,
): Promise<RunSummary> {
  const display = opts.quiet ? undefined : createProgressDisplay({ label: opts.label });
  const ac = new AbortController();
  // Every stop signal cancels, and a repeated one must not kill the process before the run is recorded
  // as cancelled: a wrapper (npx, npm exec) forwards the terminal's Ctrl-C, so the process gets SIGINT
  // twice, and a `once` listener let the second one end it with the run left running.
  const onSignal = () => {
    if (ac.signal.aborted) {
      info('plum: still cancelling the run…');
      return;
    }
    info('plum: cancelling the run (nmap is being stopped)…');
    ac.abort();
  };
  for (const sig of STOP_SIGNALS) process.on(sig, onSignal);
  try {
    return await runEmbedded(
      {
        store,
        config: ctx.config,
        log: ctx.log,
        maxInFlight: opts.concurrency ?? 4,
        signal: ac.signal,
        ...(opts.nmap ? { nmap: opts.nmap } : {}),
        ...(opts.resolve ? { resolve: opts.resolve } : {}),
        onEvent: (e) => display?.onEvent(e),
        onJobProgress: (hb) => display?.onJobProgress(hb),
      },
      request,
    );
  } finally {
    for (const sig of STOP_SIGNALS) process.removeListener(sig, onSignal);
    display?.stop();
  }
}

export function summaryLine(s: RunSummary): string {
  const c = s.counters;
  const what = s.kind === 'profile' ? `profile ${s.profile}` : 'investigation';
  return (
    `${what} run ${s.runId} ${s.status}: ${c.jobsDone}/${c.jobs} job${c.jobs === 1 ? '' : 's'}${c.jobsFailed ? ` (${c.jobsFailed} failed)` : ''}, ` +
    `${c.hostsUp} host${c.hostsUp === 1 ? '' : 's'} up, ${c.ports} open port${c.ports === 1 ? '' : 's'}; ` +
    `${c.appeared} appeared, ${c.changed} changed, ${c.gone} gone, ${c.reappeared} reappeared`
  );
}

export const findingJson = (f: RunFinding) => ({
  ip: f.ip,
  protocol: f.protocol,
  port: f.port,
  event: f.event,
  service: f.service,
  tags: f.tags,
  score: f.score,
  first_seen: f.firstSeen,
});

/** Prints a finished run: JSON document, or a summary plus what is new. */
export async function printRunResult(store: Store, summary: RunSummary, format: string, opts: { all?: boolean } = {}): Promise<void> {
  const findings = await runFindings(store, summary.runId);
  const gone = await runGone(store, summary.runId);
  if (format === 'json') {
    printJson({
      run_id: summary.runId,
      workflow_id: summary.workflowId,
      kind: summary.kind,
      profile: summary.profile ?? null,
      status: summary.status,
      counters: summary.counters,
      errors: summary.errors,
      findings: findings.map(findingJson),
      gone,
    });
  } else {
    const shown = opts.all ? findings : findings.filter((f) => f.event !== null);
    if (shown.length > 0) {
      printTable(
        shown.map((f) => ({
          what: f.event ?? 'seen',
          ip: f.ip,
          port: `${f.port}/${f.protocol}`,
          score: f.score,
          tags: f.tags.slice(0, 4).join(','),
          service: f.service,
        })),
        ['what', 'ip', 'port', 'score', 'tags', 'service'],
      );
    }
    for (const g of gone.slice(0, 20)) info(`gone: ${g.ip} ${g.port}/${g.protocol}`);
    if (!opts.all && findings.length > shown.length) info(`${findings.length - shown.length} known service(s) unchanged (search with plum search)`);
    info(summaryLine(summary));
    for (const e of summary.errors.slice(0, 5)) info(`  error: ${e}`);
  }
  if (summary.status === 'failed') process.exitCode = 1;
  if (summary.status === 'cancelled') process.exitCode = 130;
}

/**
 * Starts a run's workflow on Temporal and follows it, printing a progress line whenever it moves;
 * Ctrl-C cancels the workflow (the agents stop nmap).
 */
export async function followOnTemporal(ctx: CliContext, request: RunRequest, opts: { priority?: number } = {}): Promise<RunSummary> {
  const { runOnTemporalServer } = await import('../../workers/temporal-client.ts');
  const ac = new AbortController();
  const onSigint = () => {
    info('plum: cancelling the workflow (the agents stop nmap)…');
    ac.abort();
  };
  let shown = '';
  const onProgress = (p: RunProgress) => {
    const line = temporalProgressLine(p);
    if (line !== shown) info((shown = line));
  };
  process.once('SIGINT', onSigint);
  try {
    return await runOnTemporalServer(ctx.config, request, { ...opts, onProgress, signal: ac.signal });
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

/**
 * A finished Temporal run: with the server database configured, the same
 * output as a run in this process (findings and what changed); otherwise the
 * summary the workflow returned.
 */
export async function printTemporalResult(ctx: CliContext, summary: RunSummary, format: string, opts: { all?: boolean } = {}): Promise<void> {
  if (ctx.config.PLUM_DATABASE_URL) {
    await printRunResult(await openCommandStore(ctx, { create: true }), summary, format, opts);
    return;
  }
  if (format === 'json') printJson(summary);
  else info(summaryLine(summary));
  if (summary.status === 'failed') process.exitCode = 1;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('run')
    .description('run a scan profile now: plan its jobs, scan them with nmap (progress per job) and store the results, then show what changed')
    .argument('<profile>', 'profile name or id')
    .addOption(formatOption())
    .addOption(concurrencyOption())
    .option('--temporal', 'start the run as a workflow on Temporal (PLUM_TEMPORAL_ADDRESS) and follow it, instead of running it here')
    .option('--scope-override <reason>', 'let names that resolve outside the perimeter through, recording the reason with the run')
    .action(async (name: string, opts: { format: string; concurrency: string; temporal?: boolean; scopeOverride?: string }) => {
      if (opts.temporal) {
        const request = profileRequest(name, { requestedBy: 'cli', ...(opts.scopeOverride ? { scopeOverrideReason: opts.scopeOverride } : {}) });
        info(`plum: starting ${request.workflowId} on Temporal; follow it in the Temporal UI too`);
        const summary = await followOnTemporal(ctx, request);
        await printTemporalResult(ctx, summary, opts.format);
        return;
      }
      const store = await openCommandStore(ctx, { create: true });
      const profile = await getProfile(store, name);
      const request = profileRequest(profile.name, { requestedBy: 'cli', ...(opts.scopeOverride ? { scopeOverrideReason: opts.scopeOverride } : {}) });
      const summary = await runWithProgress(ctx, store, request, { concurrency: Number(opts.concurrency), label: profile.name });
      await printRunResult(store, summary, opts.format);
    });
}
