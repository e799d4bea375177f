import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgressDisplay, jobProgressInfo, temporalProgressLine } from './progress.ts';
import type { PlannedRun } from '../workflows/logic/types.ts';

describe("a job bar's text", () => {
  it.each([
    ['nmap', { phase: 'Service scan', percent: 40, etaSeconds: 12 }, 'Service scan, about 12s left'],
    ['masscan sweeping', { phase: 'masscan', percent: 45, etaSeconds: 62, packets: 2940 }, 'masscan, 2940 packets sent, about 62s left'],
    ['masscan, one packet', { phase: 'masscan', percent: 1, packets: 1 }, 'masscan, 1 packet sent'],
    ['starting', { phase: 'starting', percent: 0 }, 'starting'],
  ])('%s', (_what, p, expected) => {
    expect(jobProgressInfo({ jobId: 'job_1', index: 0, ...p })).toBe(expected);
  });
});

describe('the progress lines of a two-stage run outside a terminal', () => {
  it('says the scouting stage comes first, then how many nmap jobs it left', () => {
    const stream = new PassThrough();
    let out = '';
    stream.on('data', (d: Buffer) => (out += d.toString()));
    const display = createProgressDisplay({ stream: stream as unknown as NodeJS.WriteStream, label: 'wide', tty: false });
    const plan = { runId: 'run_1', kind: 'profile', priority: 2, jobCount: 1, addressCount: 8, targetCount: 1, scoutJobs: 1 } as PlannedRun;
    display.onEvent({ type: 'planned', plan });
    display.onEvent({ type: 'stage', stage: 'scan', plan: { ...plan, jobCount: 3 } });
    display.stop();
    expect(out.split('\n').filter(Boolean)).toEqual([
      'wide: 1 job over 8 addresses, 1 scouting job (masscan) first',
      'wide: scouting done: 2 nmap jobs on what answered',
    ]);
  });
});

describe('the progress line of a run followed on Temporal', () => {
  const counters = { jobs: 2, jobsDone: 1, jobsFailed: 0, jobsPartial: 0, hosts: 8, hostsUp: 2, ports: 4, appeared: 4, changed: 0, gone: 0, reappeared: 0 };
  it.each([
    ['one stage', {}, 'plum: 1/2 jobs done, 4 open ports'],
    [
      'scouting',
      { stage: 'scout' as const, counters: { ...counters, jobs: 1, jobsDone: 0, ports: 0 } },
      'plum: scouting (masscan): 0/1 job done, 0 open ports',
    ],
    ['the nmap stage', { stage: 'scan' as const }, 'plum: nmap stage: 1/2 jobs done, 4 open ports'],
  ])('%s', (_what, p, expected) => {
    expect(temporalProgressLine({ nextIndex: 1, counters, ...p })).toBe(expected);
  });
});
