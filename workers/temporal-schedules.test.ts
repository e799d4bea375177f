import { ScheduleOverlapPolicy } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import { parseProfile } from '../core/profiles.ts';
import type { StoredProfile } from '../store/repos/profiles.ts';
import type { ScanWorkflowInput } from '../workflows/temporal-run.ts';
import { desiredReportSchedule, desiredSchedule, REPORT_SCHEDULE_PREFIX, SCHEDULE_PREFIX } from './temporal-schedules.ts';

const config = loadConfig({});
const stored = (input: Parameters<typeof parseProfile>[0], enabled = true): StoredProfile => ({
  ...parseProfile(input),
  id: 'prof_x',
  enabled,
  builtin: false,
  createdAt: '',
  updatedAt: '',
});

describe('desiredSchedule', () => {
  it('builds an interval schedule with overlap skip, a bounded catch-up window and the run workflow as action', () => {
    const d = desiredSchedule(stored({ name: 'banner', tcpPorts: '22,80', every: '12h', priority: 3 }), config);
    expect(d.scheduleId).toBe(`${SCHEDULE_PREFIX}banner`);
    expect(d.options.spec).toEqual({ intervals: [{ every: 12 * 3_600_000 }] });
    expect(d.options.policies).toEqual({ overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: 12 * 3_600_000 });
    expect(d.options.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: 'scanProfileWorkflow',
      taskQueue: 'plum-server',
      workflowId: 'profile:banner',
    });
    const input = d.options.action.args![0] as ScanWorkflowInput;
    expect(input.scanTaskQueue).toBe('plum-scan');
    expect(input.state.request).toEqual({ kind: 'profile', profile: 'banner', workflowId: '', requestedBy: 'schedule' });
    expect(d.paused).toBe(false);
  });

  it('uses cron expressions as they are, caps catch-up at one day, pauses disabled profiles', () => {
    const d = desiredSchedule(stored({ name: 'weekly', tcpPorts: '443', every: '0 3 * * 1' }, false), config);
    expect(d.options.spec).toEqual({ cronExpressions: ['0 3 * * 1'] });
    expect(d.options.policies!.catchupWindow).toBe(86_400_000);
    expect(d.paused).toBe(true);
    expect(d.options.state).toMatchObject({ paused: true });
  });

  it('has a digest that changes with what matters and only with it (idempotent sync)', () => {
    const a = desiredSchedule(stored({ name: 'web', tcpPorts: '80', every: '1d' }), config);
    const same = desiredSchedule(stored({ name: 'web', tcpPorts: '80', every: '1d', description: 'only a description' }), config);
    const other = desiredSchedule(stored({ name: 'web', tcpPorts: '80', every: '2d' }), config);
    const prio = desiredSchedule(stored({ name: 'web', tcpPorts: '80', every: '1d', priority: 4 }), config);
    expect(same.digest).toBe(a.digest);
    expect(other.digest).not.toBe(a.digest);
    expect(prio.digest).not.toBe(a.digest);
    expect(a.options.memo).toEqual({ plumDigest: a.digest });
    // An update cannot change a schedule's memo, so the digest the next sync compares rides on the action.
    expect(a.options.action.memo).toMatchObject({ plumDigest: a.digest });
    expect(other.options.action.memo).toMatchObject({ plumDigest: other.digest });
  });

  it("carries the deployment's nmap timing and continue-as-new threshold in the input, and only when they differ from the defaults", () => {
    const profile = stored({ name: 'web', tcpPorts: '80', every: '1d' });
    const plain = desiredSchedule(profile, config);
    const plainInput = plain.options.action.args![0] as ScanWorkflowInput;
    expect(plainInput.nmapTiming).toBeUndefined();
    expect(plainInput.limits).toBeUndefined();
    const tuned = desiredSchedule(
      profile,
      loadConfig({
        PLUM_TEMPORAL_HEARTBEAT_TIMEOUT: '5s',
        PLUM_TEMPORAL_RETRY_INTERVAL: '1s',
        PLUM_TEMPORAL_JOBS_PER_EXECUTION: '3',
      }),
    );
    const tunedInput = tuned.options.action.args![0] as ScanWorkflowInput;
    expect(tunedInput.nmapTiming).toEqual({ heartbeatTimeout: '5s', retryInitialInterval: '1s' });
    expect(tunedInput.limits).toEqual({ jobsPerExecution: 3 });
    expect(tuned.digest).not.toBe(plain.digest);
  });
});

describe('desiredReportSchedule', () => {
  it('builds one schedule per report definition running reportWorkflow at its cadence, overlap skip, bounded catch-up', () => {
    const d = desiredReportSchedule({ name: 'weekly-web', every: '7d', enabled: true }, config);
    expect(d.scheduleId).toBe(`${REPORT_SCHEDULE_PREFIX}weekly-web`);
    expect(d.scheduleId).toBe('plum-report:weekly-web');
    expect(d.options.spec).toEqual({ intervals: [{ every: 7 * 86_400_000 }] });
    expect(d.options.policies).toEqual({ overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: 86_400_000 });
    expect(d.options.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: 'reportWorkflow',
      taskQueue: 'plum-server',
      workflowId: 'report:weekly-web',
      args: [{ report: 'weekly-web' }],
    });
    expect(d.paused).toBe(false);
    expect(d.options.memo).toEqual({ plumDigest: d.digest });
    expect(d.options.action.memo).toEqual({ report: 'weekly-web', plumDigest: d.digest });
  });

  it('pauses disabled definitions and changes its digest only with what matters', () => {
    const a = desiredReportSchedule({ name: 'daily', every: '1d', enabled: true }, config);
    const off = desiredReportSchedule({ name: 'daily', every: '1d', enabled: false }, config);
    const other = desiredReportSchedule({ name: 'daily', every: '2d', enabled: true }, config);
    expect(off.paused).toBe(true);
    expect(off.options.state).toMatchObject({ paused: true });
    expect(off.digest).toBe(a.digest);
    expect(other.digest).not.toBe(a.digest);
    expect(desiredReportSchedule({ name: 'hourly', every: '2h', enabled: true }, config).options.policies!.catchupWindow).toBe(2 * 3_600_000);
  });
});
