import { describe, expect, it } from 'vitest';
import { formatDuration, isDuration, parseDate, parseDuration, parseSince } from './duration.ts';

const now = new Date('2026-12-06T12:00:00Z');

describe('durations and dates', () => {
  it.each([
    ['30m', 1_800_000],
    ['12h', 43_200_000],
    ['7d', 604_800_000],
    ['2w', 1_209_600_000],
    [' 3D ', 259_200_000],
  ])('parseDuration(%j) = %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
    expect(isDuration(text)).toBe(true);
  });

  it.each(['', '0d', '7', 'd', '7x', '-1d', '1.5h', 'all', '2026-01-01'])('parseDuration(%j) is refused with one line', (text) => {
    expect(() => parseDuration(text, 'report period')).toThrow(/^invalid report period/);
  });

  it('formats back into the largest exact unit', () => {
    expect(formatDuration(parseDuration('14d'))).toBe('2w');
    expect(formatDuration(parseDuration('36h'))).toBe('36h');
    expect(formatDuration(90_000)).toBe('2m');
  });

  it.each([
    ['7d', '2026-11-29T12:00:00.000Z'],
    ['12h', '2026-12-06T00:00:00.000Z'],
    ['all', '1970-01-01T00:00:00.000Z'],
    ['ALL', '1970-01-01T00:00:00.000Z'],
    ['2026-01-31', '2026-01-31T00:00:00.000Z'],
    ['2026-01-31T10:00:00Z', '2026-01-31T10:00:00.000Z'],
  ])('parseSince(%j) = %s', (text, iso) => {
    expect(parseSince(text, now).toISOString()).toBe(iso);
  });

  it.each(['', 'yesterday', '0d', '2026-13-45', '31/01/2026'])('parseSince(%j) is refused naming the option', (text) => {
    expect(() => parseSince(text, now, '--since')).toThrow(/^invalid --since/);
  });

  it('reads a bare date as midnight UTC and refuses impossible ones', () => {
    expect(parseDate('2026-02-01').toISOString()).toBe('2026-02-01T00:00:00.000Z');
    expect(() => parseDate('2026-02-30T99:00', '--from date')).toThrow(/^invalid --from date/);
  });
});
