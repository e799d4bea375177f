import { describe, expect, it } from 'vitest';
import { runPeriod } from './period.ts';

const t = (s: string) => new Date(`2026-12-06T02:${s}Z`);

describe("runPeriod: the period of one run's report", () => {
  it.each([
    // [case, run start, run end, first scan, last scan, now, from, to]
    ['scan stamped in the second the run started (before its recorded start)', '40:12.700', '40:14.100', '40:12', '40:12', '50:00', '40:12.000', '40:14.100'],
    ['scans inside the run', '40:12.300', '41:00.000', '40:13', '40:59', '50:00', '40:12.000', '41:00.000'],
    ['last scan stamped at the end second: one second past it', '40:12.300', '40:20.200', '40:13', '40:20', '50:00', '40:12.000', '40:21.000'],
    ['still running: through now', '40:12.300', null, '40:13', '40:15', '40:30.000', '40:12.000', '40:30.000'],
    ['nothing scanned yet', '40:12.300', null, null, null, '40:12.400', '40:12.000', '40:13.000'],
  ] as const)('%s', (_case, start, end, first, last, now, from, to) => {
    const p = runPeriod({ startedAt: t(start), finishedAt: end ? t(end) : null }, { first: first ? t(first) : null, last: last ? t(last) : null }, t(now));
    expect(p.from).toBe(t(from).toISOString());
    expect(p.to).toBe(t(to).toISOString());
    // The comparison period has the same length, just before.
    expect(p.previousTo).toBe(p.from);
    expect(new Date(p.from).getTime() - new Date(p.previousFrom).getTime()).toBe(new Date(p.to).getTime() - new Date(p.from).getTime());
  });
});
