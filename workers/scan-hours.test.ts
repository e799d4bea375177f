import { describe, expect, it } from 'vitest';
import { PlumError } from '../core/errors.ts';
import { inScanWindow, msUntilWindowChange, parseScanHours } from './scan-hours.ts';

const at = (iso: string) => new Date(iso);

describe('scan hours', () => {
  it('parses windows, including ones that wrap past midnight, and refuses nonsense with a usage error', () => {
    expect(parseScanHours('22-06')).toEqual({ start: 22, end: 6 });
    expect(parseScanHours(' 8 - 18 ')).toEqual({ start: 8, end: 18 });
    expect(parseScanHours('0-24')).toEqual({ start: 0, end: 0 });
    for (const bad of ['22', '25-3', '5-5', 'night', '1-2-3']) {
      expect(() => parseScanHours(bad)).toThrow(PlumError);
    }
    expect(() => parseScanHours('nope')).toThrow(/--scan-hours/);
  });

  it('tells whether a time is inside the window and how long until it opens or closes', () => {
    const night = parseScanHours('22-06');
    expect(inScanWindow(night, at('2026-11-23T23:30:00Z'))).toBe(true);
    expect(inScanWindow(night, at('2026-11-23T05:59:00Z'))).toBe(true);
    expect(inScanWindow(night, at('2026-11-23T06:00:00Z'))).toBe(false);
    expect(inScanWindow(night, at('2026-11-23T12:00:00Z'))).toBe(false);
    expect(msUntilWindowChange(night, at('2026-11-23T12:00:00Z'))).toBe(10 * 3_600_000);
    expect(msUntilWindowChange(night, at('2026-11-23T23:00:00Z'))).toBe(7 * 3_600_000);
    const day = parseScanHours('8-18');
    expect(inScanWindow(day, at('2026-11-23T07:59:59Z'))).toBe(false);
    expect(inScanWindow(day, at('2026-11-23T08:00:00Z'))).toBe(true);
    expect(msUntilWindowChange(day, at('2026-11-23T19:00:00Z'))).toBe(13 * 3_600_000);
    const always = parseScanHours('0-24');
    expect(inScanWindow(always, at('2026-11-23T13:00:00Z'))).toBe(true);
    expect(msUntilWindowChange(always, at('2026-11-23T13:00:00Z'))).toBe(Number.POSITIVE_INFINITY);
  });
});
