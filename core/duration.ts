import { usageError } from './errors.ts';

/**
 * Durations and points in time as users type them, for every surface: profile
 * cycles, report periods and cadences, `plum history --since`, the history route.
 */

export const UNIT_MS: Readonly<Record<'m' | 'h' | 'd' | 'w', number>> = {
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

const DURATION = /^\s*(\d{1,9})\s*([mhdw])\s*$/i;

/** `30d`, `12h`, `2w`, `90m` → milliseconds (greater than zero). */
export function parseDuration(text: string, what = 'duration'): number {
  const m = DURATION.exec(text);
  if (!m) throw usageError(`invalid ${what} "${text}"`, 'use a number followed by m, h, d or w, e.g. 30d or 12h');
  const n = Number(m[1]);
  if (n <= 0) throw usageError(`invalid ${what} "${text}": must be greater than zero`, 'e.g. 7d');
  return n * UNIT_MS[m[2]!.toLowerCase() as keyof typeof UNIT_MS];
}

/** Whether the text is a duration (`7d`), as opposed to a date or a cron expression. */
export function isDuration(text: string): boolean {
  return DURATION.test(text);
}

/** Milliseconds back in the largest exact unit (7d, 36h...). */
export function formatDuration(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm'] as const) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${Math.round(ms / 60_000)}m`;
}

/** `YYYY-MM-DD` (midnight UTC) or a full ISO-8601 date-time. */
export function parseDate(text: string, what = 'date'): Date {
  const t = text.trim();
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(t) ? `${t}T00:00:00Z` : t;
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(iso)) {
    throw usageError(`invalid ${what} "${text}"`, 'use YYYY-MM-DD or an ISO-8601 date-time such as 2026-01-31T12:00:00Z');
  }
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) throw usageError(`invalid ${what} "${text}"`, 'use YYYY-MM-DD or an ISO-8601 date-time');
  return d;
}

/** A start point: a duration back from `now` (`7d`), a date or date-time, or `all` (the epoch). */
export function parseSince(text: string, now: Date, what = '--since'): Date {
  const t = text.trim();
  if (t.toLowerCase() === 'all') return new Date(0);
  if (isDuration(t)) return new Date(now.getTime() - parseDuration(t, what));
  try {
    return parseDate(t, what);
  } catch {
    throw usageError(`invalid ${what} "${text}"`, 'use a duration such as 7d, 12h, 30m, 2w, a date such as 2026-01-31, or all');
  }
}
