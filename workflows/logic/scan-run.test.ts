import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, droppedMessage, emptyCounters, executeScanRun, initialState, priorityKey, runStatus, workflowIdFor, type RunEnv } from './scan-run.ts';
import type { JobSpec, RunState, ScanStageDropped } from './types.ts';

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
    expect(s).toEqual({
      request: { kind: 'profile', profile: 'web', workflowId: 'profile:web:t', requestedBy: 'cli' },
      nextIndex: 0,
      counters: emptyCounters(),
      errors: [],
    });
  });
});

describe('a two-stage run', () => {
  /** The run logic's calls, recorded: the stages' order is the point, the activities are tested over real scanners elsewhere. */
  function recordingEnv(opts: { scoutJobs: number; names: number; scanJobs: number; interruptedScout?: number; dropped?: ScanStageDropped }) {
    const calls: string[] = [];
    const finished: string[][] = [];
    let jobCount = opts.scoutJobs + opts.names;
    const spec = (index: number): JobSpec => ({
      runId: 'run_1',
      jobId: `job_${index}`,
      index,
      kind: 'ipv4',
      targets: [`198.18.0.${index}`],
      addressCount: 1,
      tcpPorts: '22',
      scripts: [],
      extraArgs: [],
      hostTimeout: '40s',
      priority: 2,
      ...(index < opts.scoutJobs ? { scout: { rate: 100 } } : {}),
    });
    const outcome = (jobId: string, index: number) => ({
      jobId,
      index,
      status: 'succeeded' as const,
      hosts: 1,
      hostsUp: 1,
      ports: 1,
      appeared: 0,
      changed: 0,
      gone: 0,
      reappeared: 0,
    });
    const result = (s: JobSpec, interrupted: boolean) => ({
      runId: s.runId,
      jobId: s.jobId,
      sha256: '',
      size: 0,
      exitCode: 0,
      interrupted,
      durationMs: 1,
      delivery: 'stored' as const,
    });
    const env: RunEnv = {
      activities: {
        async planRun() {
          calls.push('planRun');
          return { runId: 'run_1', kind: 'profile', priority: 2, jobCount, addressCount: 1, targetCount: 1, resumed: false, scoutJobs: opts.scoutJobs };
        },
        async getJobSpecs({ fromIndex, count }) {
          return Array.from({ length: Math.max(0, Math.min(count, jobCount - fromIndex)) }, (_, i) => spec(fromIndex + i));
        },
        async runNmapJob(s) {
          return result(s, false);
        },
        async runScoutJob(s) {
          return result(s, false);
        },
        async ingestJob(input) {
          calls.push(`ingest ${input.jobId}${input.interrupted ? ' interrupted' : ''}`);
          return outcome(input.jobId, Number(input.jobId.slice(4)));
        },
        async planScanStage() {
          calls.push('planScanStage');
          jobCount += opts.scanJobs;
          return { jobCount, addressCount: jobCount, ...(opts.dropped ? { dropped: opts.dropped } : {}) };
        },
        async failJob() {},
        async finishRun(input) {
          calls.push(`finishRun ${input.status} ${input.counters.jobs}`);
          finished.push(input.errors);
        },
      },
      async runNmapJob(s) {
        calls.push(`nmap ${s.jobId}`);
        return result(s, false);
      },
      async runScoutJob(s) {
        calls.push(`masscan ${s.jobId}`);
        return result(s, s.index === opts.interruptedScout);
      },
      isCancellation: () => false,
      nonCancellable: (fn) => fn(),
    };
    return { env, calls, finished };
  }
  const request = { kind: 'profile' as const, profile: 'wide', workflowId: 'profile:wide:t', requestedBy: 'test' };

  it('runs the scouting jobs, plans the nmap stage from them, then runs it (names included) in one execution', async () => {
    const { env, calls } = recordingEnv({ scoutJobs: 2, names: 1, scanJobs: 2, interruptedScout: 1 });
    const step = await executeScanRun(env, initialState(request), { ...DEFAULT_LIMITS, maxInFlight: 1 });
    expect(calls).toEqual([
      'planRun',
      'masscan job_0',
      'ingest job_0',
      'masscan job_1',
      'ingest job_1 interrupted',
      'planScanStage',
      'nmap job_2',
      'ingest job_2',
      'nmap job_3',
      'ingest job_3',
      'nmap job_4',
      'ingest job_4',
      'finishRun succeeded 5',
    ]);
    expect(step.done && step.summary.counters.jobsDone).toBe(5);
  });

  it('carries the stage across continue-as-new, and plans the nmap stage once', async () => {
    const { env, calls } = recordingEnv({ scoutJobs: 2, names: 0, scanJobs: 1 });
    const limits = { ...DEFAULT_LIMITS, maxInFlight: 1, jobsPerExecution: 1 };
    let step = await executeScanRun(env, initialState(request), limits);
    const stages: Array<string | undefined> = [];
    while (!step.done) {
      stages.push(step.state.stage);
      // What Temporal carries: the state as JSON.
      step = await executeScanRun(env, JSON.parse(JSON.stringify(step.state)) as RunState, limits);
    }
    expect(stages).toEqual(['scout', 'scan']);
    expect(calls.filter((c) => c === 'planScanStage')).toHaveLength(1);
    expect(calls.at(-1)).toBe('finishRun succeeded 3');
  });

  it("answering addresses the nmap stage left out are in the run's errors; the status stays the jobs'", async () => {
    const { env, finished } = recordingEnv({ scoutJobs: 1, names: 0, scanJobs: 1, dropped: { count: 12, addresses: ['198.18.0.3', '198.18.0.4'] } });
    const step = await executeScanRun(env, initialState(request));
    const note =
      '12 addresses that answered the scouting stage got no nmap job: excluded or outside the perimeter since the run was planned (198.18.0.3, 198.18.0.4, …)';
    expect(step.done && step.summary).toMatchObject({ status: 'succeeded', errors: [note] });
    expect(finished).toEqual([[note]]);
    expect(droppedMessage({ count: 1, addresses: ['198.18.0.3'] })).toBe(
      '1 address that answered the scouting stage got no nmap job: excluded or outside the perimeter since the run was planned (198.18.0.3)',
    );
    // Nothing left out, nothing said.
    const plain = recordingEnv({ scoutJobs: 1, names: 0, scanJobs: 1 });
    const clean = await executeScanRun(plain.env, initialState(request));
    expect(clean.done && clean.summary.errors).toEqual([]);
  });

  it('a run without scouting never plans a second stage', async () => {
    const { env, calls } = recordingEnv({ scoutJobs: 0, names: 2, scanJobs: 5 });
    await executeScanRun(env, initialState(request));
    expect(calls).not.toContain('planScanStage');
    expect(calls.at(-1)).toBe('finishRun succeeded 2');
  });
});
