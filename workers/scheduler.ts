import { CronExpressionParser } from 'cron-parser';
import { toPlumError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { nextDue, parseCycle } from '../core/profiles.ts';
import { runDueReports, type ReportDeps } from '../activities/report.ts';
import { dispatchWebhookEvents, retryDueDeliveries } from '../activities/webhooks.ts';
import type { Store } from '../store/index.ts';
import { listProfiles, type StoredProfile } from '../store/repos/profiles.ts';
import { claimScheduleSlot, lastProfileRunStart, recordScheduledRun, runStatusOfWorkflow, scheduleStateOf } from '../store/repos/schedule-state.ts';
import type { RunRequest, RunSummary } from '../workflows/logic/types.ts';
import { profileRequest } from './embedded.ts';

/*
 * The embedded scheduler: runs each enabled profile once per cycle while
 * `plum serve` or `plum scheduler` runs, without Temporal.
 *
 * Restart safety: the scheduler claims a cycle slot in schedule_state
 * (compare-and-set on the previous slot) before starting its run, and the
 * run's workflow id is derived from the slot (`profile:<name>:<slot>`).
 * After a restart a claimed slot whose run is missing or unfinished is
 * resumed under the same id — planRun finds the run and jobs already ingested
 * are not scanned again — so a restart neither skips nor doubles a run.
 * Overlap policy: skip (a profile's next slot waits while its run is in
 * flight). Catch-up is bounded: after a long stop only the latest missed slot
 * runs; the skipped ones are recorded.
 */

export interface SchedulerDeps {
  store: Store;
  log: Logger;
  /** Runs a request to its end (the embedded runner). */
  startRun(request: RunRequest): Promise<RunSummary>;
  now?: () => Date;
  /**
   * What due report definitions and webhook deliveries need besides the store
   * and the logger (config, whose PLUM_SCORE_FILE gives the score weights; mailer, fetch, retry tuning). Every
   * tick runs due reports and dispatches / retries webhooks after the profiles.
   */
  reports?: Omit<ReportDeps, 'store' | 'log'>;
}

/** What the report and webhook part of a tick did (errors are logged, never thrown). */
export interface HousekeepingResult {
  reports: { report: string; status: string }[];
  webhookDeliveries: number;
  retried: number;
  errors: string[];
}

export type TickAction = 'started' | 'resumed' | 'running' | 'not-due' | 'claimed-elsewhere';

export interface TickResult {
  profile: string;
  action: TickAction;
  workflowId?: string;
  /** The slot started or resumed, or the next due time. */
  slot?: string;
  /** Missed slots skipped by the bounded catch-up. */
  skipped?: string[];
}

const MAX_RECORDED_SKIPS = 20;

/** The latest cycle slot at or before `now`, starting from the first due slot; and the slots skipped to get there. */
export function latestSlot(cycleText: string, due: Date, now: Date): { slot: Date; skipped: Date[] } {
  const cycle = parseCycle(cycleText);
  const skipped: Date[] = [];
  if (cycle.kind === 'interval') {
    const k = Math.max(0, Math.floor((now.getTime() - due.getTime()) / cycle.ms));
    for (let i = Math.max(0, k - MAX_RECORDED_SKIPS); i < k; i++) skipped.push(new Date(due.getTime() + i * cycle.ms));
    return { slot: new Date(due.getTime() + k * cycle.ms), skipped };
  }
  let slot = due;
  const it = CronExpressionParser.parse(cycle.expression, { tz: 'UTC', currentDate: due });
  for (let i = 0; i < 100_000; i++) {
    const next = it.next().toDate();
    if (next.getTime() > now.getTime()) break;
    skipped.push(slot);
    if (skipped.length > MAX_RECORDED_SKIPS) skipped.shift();
    slot = next;
  }
  return { slot, skipped };
}

export function createEmbeddedScheduler(deps: SchedulerDeps) {
  const now = deps.now ?? (() => new Date());
  const running = new Map<string, Promise<void>>();
  /** Slots whose run failed before it was even created (e.g. no targets): not retried by this process. */
  const failed = new Set<string>();

  function launch(profile: StoredProfile, request: RunRequest): void {
    const p = deps
      .startRun(request)
      .then(
        async (summary) => {
          await recordScheduledRun(deps.store, profile.id, request.workflowId, summary.runId);
          deps.log.info({ profile: profile.name, runId: summary.runId, status: summary.status }, 'scheduled run finished');
        },
        (e: unknown) => {
          failed.add(request.workflowId);
          const err = toPlumError(e);
          // A profile with nothing to scan yet (a fresh install's default profiles) is not a failure to alert on.
          if (err.details?.reason === 'no_targets') {
            deps.log.info({ profile: profile.name, workflowId: request.workflowId }, `scheduled run skipped: ${err.oneLine()}`);
          } else deps.log.error({ profile: profile.name, workflowId: request.workflowId, err: err.oneLine() }, 'scheduled run failed');
        },
      )
      .finally(() => running.delete(profile.id));
    running.set(profile.id, p);
  }

  async function tickProfile(profile: StoredProfile, at: Date): Promise<TickResult> {
    if (running.has(profile.id)) return { profile: profile.name, action: 'running' };
    const state = await scheduleStateOf(deps.store, profile.id);
    const last = state?.lastScheduledFor ?? null;

    // A claimed slot whose run never finished (the process stopped): resume it under the same id.
    if (state?.lastWorkflowId && last && !failed.has(state.lastWorkflowId)) {
      const status = await runStatusOfWorkflow(deps.store, state.lastWorkflowId);
      // A run cancelled by a scheduler shutdown (Ctrl-C, SIGTERM) is unfinished too: its slot still has to be scanned.
      const unfinished = status ? ['running', 'queued', 'cancelled'].includes(status) : nextDue(profile.every, last, at).getTime() > at.getTime();
      if (unfinished) {
        launch(profile, profileRequest(profile.name, { scheduledFor: last, requestedBy: 'scheduler' }));
        return { profile: profile.name, action: 'resumed', workflowId: state.lastWorkflowId, slot: last.toISOString() };
      }
    }

    const due = nextDue(profile.every, last ?? (await lastProfileRunStart(deps.store, profile.id)), at);
    if (due.getTime() > at.getTime()) return { profile: profile.name, action: 'not-due', slot: due.toISOString() };
    const { slot, skipped } = latestSlot(profile.every, due, at);
    const request = profileRequest(profile.name, { scheduledFor: slot, requestedBy: 'scheduler' });
    const claimed = await claimScheduleSlot(deps.store, { profileId: profile.id, slot, workflowId: request.workflowId, skipped, previous: last });
    if (!claimed) return { profile: profile.name, action: 'claimed-elsewhere' };
    if (skipped.length) deps.log.warn({ profile: profile.name, skipped: skipped.length }, 'missed cycle slots skipped (bounded catch-up)');
    launch(profile, request);
    return {
      profile: profile.name,
      action: 'started',
      workflowId: request.workflowId,
      slot: slot.toISOString(),
      ...(skipped.length ? { skipped: skipped.map((d) => d.toISOString()) } : {}),
    };
  }

  let lastHousekeeping: HousekeepingResult | undefined;

  let housekeepingInFlight: Promise<HousekeepingResult> | undefined;

  /** Single flight: a tick that overlaps another (e.g. profileChanged) does not run a report or dispatch twice. */
  function housekeeping(at: Date): Promise<HousekeepingResult> {
    housekeepingInFlight ??= runHousekeeping(at).finally(() => {
      housekeepingInFlight = undefined;
    });
    return housekeepingInFlight;
  }

  /**
   * Due report definitions (the same runReportDefinition path as a preview)
   * and webhook dispatch / retries. Each step's failure is logged and recorded;
   * none of them stops the others or the profile scheduling.
   */
  async function runHousekeeping(at: Date): Promise<HousekeepingResult> {
    const r: HousekeepingResult = { reports: [], webhookDeliveries: 0, retried: 0, errors: [] };
    const fail = (what: string, e: unknown) => {
      const msg = toPlumError(e).oneLine();
      r.errors.push(`${what}: ${msg}`);
      deps.log.error({ err: msg }, `scheduler: ${what} failed`);
    };
    const extra = deps.reports ?? {};
    const hookDeps = {
      fetch: extra.fetch,
      log: deps.log,
      now: at,
      allowPrivate: extra.config?.PLUM_WEBHOOK_ALLOW_PRIVATE,
      flapping: extra.config?.PLUM_FLAPPING,
      ...extra.webhook,
    };
    try {
      const done = await runDueReports({ ...extra, store: deps.store, log: deps.log }, at);
      r.reports = done.map((x) => ({ report: x.definition.name, status: x.status }));
      for (const x of r.reports) deps.log.info(x, 'scheduled report run');
    } catch (e) {
      fail('due reports', e);
    }
    try {
      // Dispatch ends with the due retries.
      const d = await dispatchWebhookEvents(deps.store, hookDeps);
      r.webhookDeliveries = d.deliveries;
      r.retried = d.retried;
    } catch (e) {
      fail('webhook dispatch', e);
      // Pending deliveries are still retried when dispatching new events failed.
      try {
        r.retried = await retryDueDeliveries(deps.store, hookDeps);
      } catch (e2) {
        fail('webhook retries', e2);
      }
    }
    lastHousekeeping = r;
    return r;
  }

  /** One pass over the enabled profiles: starts what is due; then due reports and webhooks. */
  async function tick(): Promise<TickResult[]> {
    const at = now();
    const out: TickResult[] = [];
    let profiles: StoredProfile[] = [];
    try {
      profiles = await listProfiles(deps.store);
    } catch (e) {
      deps.log.error({ err: toPlumError(e).oneLine() }, 'listing profiles failed');
    }
    for (const profile of profiles) {
      // A trigger profile runs from its firings (dispatchTriggerFirings below), never on a cycle.
      if (!profile.enabled || profile.trigger) continue;
      try {
        out.push(await tickProfile(profile, at));
      } catch (e) {
        deps.log.error({ profile: profile.name, err: toPlumError(e).oneLine() }, 'scheduling failed');
      }
    }
    await housekeeping(at);
    return out;
  }

  /** Waits for every run this scheduler started. */
  async function idle(): Promise<void> {
    while (running.size > 0) await Promise.all([...running.values()]);
  }

  /** Ticks every `intervalMs` until stopped; stopping waits for the runs in flight. */
  function start(intervalMs = 30_000, onTick?: (r: TickResult[]) => void): { stop(): Promise<void> } {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const loop = async () => {
      if (stopped) return;
      try {
        // Not `onTick?.(await tick())`: optional chaining skips evaluating the argument when there is no onTick.
        const results = await tick();
        deps.log.debug({ results, next: new Date(now().getTime() + intervalMs).toISOString() }, 'scheduler tick');
        onTick?.(results);
      } catch (e) {
        deps.log.error({ err: toPlumError(e).oneLine() }, 'scheduler tick failed');
      } finally {
        if (!stopped) timer = setTimeout(loop, intervalMs);
      }
    };
    void loop();
    return {
      async stop() {
        stopped = true;
        if (timer) clearTimeout(timer);
        await idle();
      },
    };
  }

  return { tick, idle, start, running, housekeeping, lastHousekeeping: () => lastHousekeeping };
}
