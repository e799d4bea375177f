import { createHash } from 'node:crypto';
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
import type { PlumConfig } from '../core/config.ts';
import { cycleMs, parseCycle } from '../core/profiles.ts';
import { parseDuration } from '../core/duration.ts';
import type { StoredProfile } from '../store/repos/profiles.ts';
import type { ReportDefinitionRow } from '../store/repos/reports.ts';
import type { ReportWorkflowInput } from '../workflows/report.ts';
import type { RunRequest } from '../workflows/logic/types.ts';
import { SA_PRIORITY, SA_PROFILE, SA_RUN_KIND, type ScanWorkflowInput } from '../workflows/temporal-run.ts';
import { scanWorkflowInput, type WorkflowInputConfig } from './temporal-input.ts';

/*
 * Temporal Schedules, one per profile (`plum-profile:<name>`) and one per
 * report definition (`plum-report:<name>`, running reportWorkflow). `desiredSchedule` is pure (unit-tested);
 * `syncSchedules` / `listSchedules` need a Temporal frontend (tested against a
 * real dev server in test/temporal-live.test.ts).
 *
 * Sync is idempotent: each schedule carries a digest of what it was built
 * from in its action's memo (which an update replaces; the schedule's own memo
 * is fixed at creation), and is updated only when the digest differs. Overlap
 * policy is skip; the catch-up window is bounded (one cycle, at most a day),
 * so a server outage does not replay a backlog of scans.
 */

export const SCHEDULE_PREFIX = 'plum-profile:';
export const REPORT_SCHEDULE_PREFIX = 'plum-report:';
const DAY_MS = 86_400_000;

export interface DesiredSchedule {
  scheduleId: string;
  digest: string;
  paused: boolean;
  options: ScheduleOptions;
}

export function desiredSchedule(profile: StoredProfile, config: Pick<PlumConfig, 'PLUM_TEMPORAL_TASK_QUEUE'> & WorkflowInputConfig): DesiredSchedule {
  const cycle = parseCycle(profile.every);
  const request: RunRequest = { kind: 'profile', profile: profile.name, workflowId: '', requestedBy: 'schedule' };
  const input: ScanWorkflowInput = scanWorkflowInput(config, request);
  const catchupMs = Math.min(cycleMs(cycle), DAY_MS);
  const spec = cycle.kind === 'interval' ? { intervals: [{ every: cycle.ms }] } : { cronExpressions: [cycle.expression] };
  const digest = createHash('sha256')
    .update(JSON.stringify({ spec, input, catchupMs, q: config.PLUM_TEMPORAL_TASK_QUEUE, p: profile.priority }))
    .digest('hex')
    .slice(0, 16);
  const scheduleId = `${SCHEDULE_PREFIX}${profile.name}`;
  return {
    scheduleId,
    digest,
    paused: !profile.enabled,
    options: {
      scheduleId,
      spec,
      action: {
        type: 'startWorkflow',
        workflowType: 'scanProfileWorkflow',
        taskQueue: config.PLUM_TEMPORAL_TASK_QUEUE,
        // Temporal appends the scheduled time: `profile:<name>-<time>`.
        workflowId: `profile:${profile.name}`,
        args: [input],
        typedSearchAttributes: [
          { key: SA_RUN_KIND, value: 'profile' },
          { key: SA_PROFILE, value: profile.name },
          { key: SA_PRIORITY, value: profile.priority },
        ],
        // The digest also rides on the action: a schedule's own memo cannot be changed by an update.
        memo: { profile: profile.name, priority: profile.priority, plumDigest: digest },
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: catchupMs },
      state: { paused: !profile.enabled, note: profile.enabled ? 'synced by plum' : 'profile disabled' },
      memo: { plumDigest: digest },
    },
  };
}

/** The schedule of a report definition: every `every` (interval), overlap skip, catch-up at most one cadence or a day. */
export function desiredReportSchedule(
  def: Pick<ReportDefinitionRow, 'name' | 'every' | 'enabled'>,
  config: Pick<PlumConfig, 'PLUM_TEMPORAL_TASK_QUEUE'>,
): DesiredSchedule {
  const everyMs = parseDuration(def.every, 'report cadence');
  const input: ReportWorkflowInput = { report: def.name };
  const catchupMs = Math.min(everyMs, DAY_MS);
  const spec = { intervals: [{ every: everyMs }] };
  const digest = createHash('sha256')
    .update(JSON.stringify({ spec, input, catchupMs, q: config.PLUM_TEMPORAL_TASK_QUEUE }))
    .digest('hex')
    .slice(0, 16);
  const scheduleId = `${REPORT_SCHEDULE_PREFIX}${def.name}`;
  return {
    scheduleId,
    digest,
    paused: !def.enabled,
    options: {
      scheduleId,
      spec,
      action: {
        type: 'startWorkflow',
        workflowType: 'reportWorkflow',
        taskQueue: config.PLUM_TEMPORAL_TASK_QUEUE,
        // Temporal appends the scheduled time: `report:<name>-<time>`.
        workflowId: `report:${def.name}`,
        args: [input],
        memo: { report: def.name, plumDigest: digest },
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: catchupMs },
      state: { paused: !def.enabled, note: def.enabled ? 'synced by plum' : 'report disabled' },
      memo: { plumDigest: digest },
    },
  };
}

export interface SyncResult {
  schedule: string;
  action: 'created' | 'updated' | 'paused' | 'unpaused' | 'unchanged' | 'deleted';
}

/**
 * Makes the namespace's plum schedules match the profiles
 * and, when `opts.reports` is given, the report definitions (schedules of
 * removed definitions are deleted only then).
 */
export async function syncSchedules(
  client: Client,
  profiles: StoredProfile[],
  config: PlumConfig,
  opts: { dryRun?: boolean; reports?: ReportDefinitionRow[] } = {},
): Promise<SyncResult[]> {
  const out: SyncResult[] = [];
  // A trigger profile has no schedule: its runs start from its firings (workers/trigger-dispatcher.ts).
  const wanted = new Map(
    profiles
      .filter((p) => !p.trigger)
      .map((p) => {
        const d = desiredSchedule(p, config);
        return [d.scheduleId, d];
      }),
  );
  for (const def of opts.reports ?? []) {
    const d = desiredReportSchedule(def, config);
    wanted.set(d.scheduleId, d);
  }
  const what = (d: DesiredSchedule) => (d.scheduleId.startsWith(REPORT_SCHEDULE_PREFIX) ? 'report' : 'profile');
  for (const d of wanted.values()) {
    const handle = client.schedule.getHandle(d.scheduleId);
    let current;
    try {
      current = await handle.describe();
    } catch (e) {
      if (!(e instanceof ScheduleNotFoundError)) throw e;
    }
    if (!current) {
      if (!opts.dryRun) await client.schedule.create(d.options);
      out.push({ schedule: d.scheduleId, action: 'created' });
      continue;
    }
    // The action's copy is current after an update; the schedule memo only holds the digest it was created with.
    const digest = (current.action as { memo?: Record<string, unknown> }).memo?.plumDigest ?? (await current.memo?.plumDigest);
    if (digest !== d.digest) {
      if (!opts.dryRun) {
        await handle.update(
          () =>
            ({
              spec: d.options.spec,
              action: d.options.action,
              policies: d.options.policies,
              state: d.options.state,
            }) as never,
        );
      }
      out.push({ schedule: d.scheduleId, action: 'updated' });
    } else if (current.state.paused !== d.paused) {
      if (!opts.dryRun) await (d.paused ? handle.pause(`${what(d)} disabled`) : handle.unpause(`${what(d)} enabled`));
      out.push({ schedule: d.scheduleId, action: d.paused ? 'paused' : 'unpaused' });
    } else {
      out.push({ schedule: d.scheduleId, action: 'unchanged' });
    }
  }
  const owned = (id: string) => id.startsWith(SCHEDULE_PREFIX) || (opts.reports !== undefined && id.startsWith(REPORT_SCHEDULE_PREFIX));
  for await (const s of client.schedule.list()) {
    if (owned(s.scheduleId) && !wanted.has(s.scheduleId)) {
      if (!opts.dryRun) await client.schedule.getHandle(s.scheduleId).delete();
      out.push({ schedule: s.scheduleId, action: 'deleted' });
    }
  }
  return out;
}

/** The plum schedules of the namespace. */
export async function listSchedules(client: Client): Promise<{ schedule: string; paused: boolean; next: string | null; recent: string | null }[]> {
  const out = [];
  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith(SCHEDULE_PREFIX) && !s.scheduleId.startsWith(REPORT_SCHEDULE_PREFIX)) continue;
    out.push({
      schedule: s.scheduleId,
      paused: s.state.paused,
      next: s.info?.nextActionTimes?.[0]?.toISOString() ?? null,
      recent: s.info?.recentActions?.at(-1)?.scheduledAt?.toISOString() ?? null,
    });
  }
  return out;
}
