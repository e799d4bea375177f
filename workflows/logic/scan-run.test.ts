import { describe, expect, it } from 'vitest';
import { emptyCounters, initialState, priorityKey, runStatus, workflowIdFor } from './scan-run.ts';

describe('run logic helpers', () => {
  it('maps Plum priority 0-4 to Temporal priority keys 5-1 (urgent first), clamping out-of-range values', () => {
    expect([0, 1, 2, 3, 4].map(priorityKey)).toEqual([5, 4, 3, 2, 1]);
    expect(priorityKey(9)).toBe(1);
    expect(priorityKey(-3)).toBe(5);
  });

  it('derives a run status from its job counters', () => {
    expect(runStatus({ ...emptyCounters(3), jobsDone: 3 })).toBe('succeeded');
    expect(runStatus({ ...emptyCounters(3), jobsDone: 3, jobsPartial: 1 })).toBe('partial');
    expect(runStatus({ ...emptyCounters(3), jobsDone: 3, jobsFailed: 1 })).toBe('partial');
    expect(runStatus({ ...emptyCounters(3), jobsDone: 3, jobsFailed: 3 })).toBe('failed');
  });

  it('builds business workflow ids and a fresh state', () => {
    expect(workflowIdFor({ kind: 'profile', profile: 'web', scheduledFor: '2026-11-23T10:00:00.000Z' })).toBe('profile:web:2026-11-23T10:00:00.000Z');
    expect(workflowIdFor({ kind: 'investigation', investigationId: 'inv_x' })).toBe('investigation:inv_x');
    const s = initialState({ kind: 'profile', profile: 'web', workflowId: 'profile:web:t', requestedBy: 'cli' });
    expect(s).toEqual({ request: { kind: 'profile', profile: 'web', workflowId: 'profile:web:t', requestedBy: 'cli' }, nextIndex: 0, counters: emptyCounters(), errors: [] });
  });
});
