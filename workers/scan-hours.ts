import { PlumError } from '../core/errors.ts';

/**
 * An agent's scan window, `22-06` (UTC hours, start inclusive, end exclusive,
 * may wrap past midnight). Outside it the agent takes no job; a job already
 * running is finished.
 */
export interface ScanWindow {
  start: number;
  end: number;
}

export function parseScanHours(text: string): ScanWindow {
  const m = /^\s*(\d{1,2})\s*-\s*(\d{1,2})\s*$/.exec(text);
  const start = m ? Number(m[1]) : NaN;
  const end = m ? Number(m[2]) : NaN;
  if (!m || start > 23 || end > 24 || start === end) {
    throw new PlumError('usage', `invalid --scan-hours "${text}"`, { hint: 'give UTC hours START-END, e.g. 22-06 (wraps past midnight) or 0-24' });
  }
  return { start, end: end === 24 ? 0 : end };
}

export function inScanWindow(w: ScanWindow, at: Date): boolean {
  const h = at.getUTCHours();
  if (w.start < w.end) return h >= w.start && h < w.end;
  return h >= w.start || h < w.end;
}

/** Milliseconds until the window opens (outside) or closes (inside). Infinity for a 24-hour window. */
export function msUntilWindowChange(w: ScanWindow, at: Date): number {
  if (w.end === w.start || (w.start === 0 && w.end === 0)) return Number.POSITIVE_INFINITY;
  const target = inScanWindow(w, at) ? w.end : w.start;
  const next = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate(), target));
  if (next.getTime() <= at.getTime()) next.setUTCDate(next.getUTCDate() + 1);
  return next.getTime() - at.getTime();
}
