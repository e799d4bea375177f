import { describe, expect, it } from 'vitest';
import { isFlapping, parseFlapping } from './flapping.ts';

const day = (d: number) => new Date(Date.UTC(2026, 0, d));

describe('flapping: a port that keeps going and coming back', () => {
  const rule = parseFlapping('3/7d');
  it.each<[string, Date[], Date, boolean]>([
    ['gone twice in a week: not yet', [day(1), day(3)], day(4), false],
    ['gone three times in a week: flapping', [day(1), day(3), day(5)], day(6), true],
    ['three times, but the first out of the window', [day(1), day(5), day(7)], day(9), false],
    ['a later gone does not count for an earlier event', [day(1), day(3), day(5)], day(4), false],
  ])('%s', (_case, gone, at, expected) => {
    expect(isFlapping(gone, at, rule)).toBe(expected);
  });

  it('reads COUNT/WINDOW and refuses anything else with what to type', () => {
    expect(parseFlapping(' 4 / 12h ')).toMatchObject({ count: 4, windowMs: 12 * 3_600_000, text: '4/12h' });
    expect(() => parseFlapping('3')).toThrow(/COUNT\/WINDOW/);
    expect(() => parseFlapping('1/7d')).toThrow(/2 or more/);
    expect(() => parseFlapping('3/soon')).toThrow();
  });
});
