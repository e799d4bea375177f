import { PlumError } from '../errors.ts';
import { parseDuration } from '../duration.ts';

/*
 * Flapping: a port that goes and comes back repeatedly (a firewall filtering it on and off, a host that
 * times out every other scan). A slot is flapping at an event when it went away at least `count` times
 * within `window` up to that event (PLUM_FLAPPING, `COUNT/WINDOW`, e.g. `3/7d`). While it flaps, its
 * gone/reappeared events are folded into one line per port in reports and are not sent to webhooks one by one.
 */

export interface FlappingRule {
  count: number;
  windowMs: number;
  text: string;
}

export const DEFAULT_FLAPPING = '3/7d';

/** `3/7d` → at least 3 `gone` within 7 days; throws a PlumError saying what is expected. */
export function parseFlapping(text: string): FlappingRule {
  const m = /^\s*(\d{1,4})\s*\/\s*(\S+)\s*$/.exec(text);
  const count = m ? Number(m[1]) : NaN;
  if (!m || count < 2) {
    throw new PlumError('invalid_input', `invalid flapping rule "${text}": needs COUNT/WINDOW with a count of 2 or more`, {
      hint: 'e.g. 3/7d: three times gone within 7 days',
    });
  }
  return { count, windowMs: parseDuration(m[2]!, 'flapping window'), text: `${count}/${m[2]}` };
}

/** Is the slot flapping at `at`, given the times it went away? Pure twin of the SQL in store/repos/flapping.ts. */
export function isFlapping(goneAt: readonly Date[], at: Date, rule: FlappingRule): boolean {
  const from = at.getTime() - rule.windowMs;
  return goneAt.filter((g) => g.getTime() > from && g.getTime() <= at.getTime()).length >= rule.count;
}
