import { UNIT_MS, parseDate, parseDuration } from '../duration.ts';
import { usageError } from '../errors.ts';
import type { ReportPeriod } from './model.ts';

export interface PeriodOptions {
  since?: string;
  from?: string;
  to?: string;
}

/**
 * Resolves `--since` or `--from/--to` into a period and the previous period of
 * the same length. Default: the last 30 days. `--to` alone means "30 days up to
 * that date"; `--from` alone means "from that date until now".
 */
export function resolvePeriod(opts: PeriodOptions, now: Date = new Date()): ReportPeriod {
  if (opts.since && (opts.from || opts.to)) {
    throw usageError('--since cannot be combined with --from/--to', 'use either --since 30d or --from DATE [--to DATE]');
  }
  let from: Date;
  let to: Date;
  if (opts.from || opts.to) {
    to = opts.to ? parseDate(opts.to, '--to date') : now;
    from = opts.from ? parseDate(opts.from, '--from date') : new Date(to.getTime() - 30 * UNIT_MS.d);
    // A bare --to date means "up to and including that day".
    if (opts.to && /^\d{4}-\d{2}-\d{2}$/.test(opts.to.trim())) to = new Date(to.getTime() + UNIT_MS.d);
  } else {
    const ms = parseDuration(opts.since ?? '30d', '--since duration');
    to = now;
    from = new Date(now.getTime() - ms);
  }
  if (from.getTime() >= to.getTime()) {
    throw usageError('the period is empty: --from must be before --to', 'swap the dates or widen the period');
  }
  const len = to.getTime() - from.getTime();
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    previousFrom: new Date(from.getTime() - len).toISOString(),
    previousTo: from.toISOString(),
  };
}

/**
 * The period of one run's report (an investigation's): from its start through
 * its end (now while it runs), widened to include every scan time it recorded.
 * Scan times are nmap's whole seconds, so a scan that began in the same second
 * as the run is stamped up to a second before the run's recorded start: the
 * period starts at the earlier of the two, on a whole second.
 */
export function runPeriod(
  run: { startedAt: Date; finishedAt?: Date | null },
  scans: { first?: Date | null; last?: Date | null },
  now: Date = new Date(),
): ReportPeriod {
  const SECOND = 1000;
  let from = run.startedAt.getTime();
  if (scans.first) from = Math.min(from, scans.first.getTime());
  from = Math.floor(from / SECOND) * SECOND;
  // `to` is exclusive: one second past the last scan time.
  let to = (run.finishedAt ?? now).getTime();
  if (scans.last) to = Math.max(to, scans.last.getTime() + SECOND);
  to = Math.max(to, from + SECOND);
  const len = to - from;
  return {
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    previousFrom: new Date(from - len).toISOString(),
    previousTo: new Date(from).toISOString(),
  };
}
