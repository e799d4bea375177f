import { describe, expect, it } from 'vitest';
import { pgTimestampToDate } from './rows.ts';

/** The general way (ISO text through Date's parser): what the fast path must agree with. */
function viaDateParser(v: string): unknown {
  let s = v.replace(' ', 'T');
  if (/[+-]\d\d$/.test(s)) s += ':00';
  else if (!/([+-]\d\d:?\d\d|Z)$/.test(s)) s += 'Z';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? v : d;
}

describe('pgTimestampToDate', () => {
  it('reads UTC timestamptz text as Date does, to the millisecond', () => {
    for (const v of [
      '2023-11-14 22:13:20+00',
      '2023-11-15 22:13:30.1+00',
      '2023-11-15 22:13:30.12+00',
      '2026-12-03 15:16:09.123456+00',
      '2024-02-29 23:59:59.999999+00',
      '1970-01-01 00:00:00+00',
      '9999-12-31 23:59:59+00',
      '0100-01-01 00:00:00+00',
    ]) {
      expect(pgTimestampToDate(v), v).toEqual(viaDateParser(v));
      expect((pgTimestampToDate(v) as Date).toISOString()).toBe(new Date(viaDateParser(v) as Date).toISOString());
    }
    expect((pgTimestampToDate('2026-12-03 15:16:09.123956+00') as Date).toISOString()).toBe('2026-12-03T15:16:09.123Z');
  });

  it('leaves other zones, odd dates and non-dates to the general way', () => {
    for (const v of [
      '2023-11-14 22:13:20+02',
      '2023-11-14 22:13:20.5-03:30',
      '2023-11-14 22:13:20',
      '0099-01-01 00:00:00+00',
      '2026-02-31 00:00:00+00',
      '2026-13-01 00:00:00+00',
      '2026-1x-01 00:00:00+00',
      '2026-01-01 24:00:00+00',
      '2026-01-01 00:00:00.+00',
    ]) {
      expect(pgTimestampToDate(v), v).toEqual(viaDateParser(v));
    }
    expect(pgTimestampToDate('infinity')).toBe('infinity');
    expect(pgTimestampToDate('not a date')).toBe('not a date');
  });

  it('agrees with the Date parser on 20,000 generated timestamps', () => {
    let seed = 7;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    const pad = (x: number, w: number) => String(x).padStart(w, '0');
    for (let i = 0; i < 20_000; i++) {
      const frac = rnd(8);
      const v =
        `${pad(1900 + rnd(300), 4)}-${pad(rnd(14), 2)}-${pad(rnd(33), 2)} ${pad(rnd(25), 2)}:${pad(rnd(61), 2)}:${pad(rnd(61), 2)}` +
        (frac === 0 || frac === 7 ? '' : `.${pad(rnd(10 ** frac), frac)}`) +
        (rnd(10) === 0 ? '+01' : '+00');
      expect(pgTimestampToDate(v), v).toEqual(viaDateParser(v));
    }
  });
});
