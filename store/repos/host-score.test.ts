import { describe, expect, it } from 'vitest';
import { DEFAULT_SCORE_FILE, loadScoreConfig, scorePort } from '../../core/score.ts';
import { portInput } from './host-score.ts';

/*
 * The "newly appeared" and "recently changed" features age from the scan time
 * (the slot's first sighting, the fingerprint's last change) to the moment the
 * score is judged: a scan of 2013 imported today is not new.
 */

const NOW = new Date('2026-12-06T12:00:00Z');
const daysAgo = (d: number) => new Date(NOW.getTime() - d * 86_400_000);

describe('score features age from scan time to now', async () => {
  const cfg = await loadScoreConfig(DEFAULT_SCORE_FILE);
  const feature = (slotFirst: Date, changedAt: Date | null, name: string) =>
    scorePort(portInput({ tags: ['type:web'], slot_first: slotFirst, changed_at: changedAt }, NOW), cfg).features.find((f) => f.name === name)!;

  it.each([
    // what, first sighting (scan time), last change (scan time), feature, value (age in days, null past the window), counts
    ['a 2013 scan imported today', new Date('2013-05-10T05:31:22Z'), null, 'newly_appeared', null, false],
    ['a 2013 change imported today', new Date('2013-02-24T21:28:09Z'), new Date('2013-05-10T05:31:22Z'), 'recently_changed', null, false],
    ['a scan of an hour ago', daysAgo(1 / 24), null, 'newly_appeared', 0, true],
    ['first seen 3 days ago', daysAgo(3), null, 'newly_appeared', 3, true],
    ["first seen at the window's end", daysAgo(cfg.newly_appeared_days), null, 'newly_appeared', null, false],
    ['changed 2 days ago', daysAgo(40), daysAgo(2), 'recently_changed', 2, true],
    ['changed past the window', daysAgo(40), daysAgo(cfg.recently_changed_days + 1), 'recently_changed', null, false],
    ['never changed', daysAgo(40), null, 'recently_changed', null, false],
    ['a scan time ahead of the clock (skew) is new', daysAgo(-0.5), null, 'newly_appeared', 0, true],
  ] as const)('%s', (_what, slotFirst, changedAt, name, value, counts) => {
    const f = feature(slotFirst, changedAt, name);
    expect(f.value).toBe(value);
    expect(f.contribution > 0).toBe(counts);
  });

  it('the features age with the judging time given: the same port is new at one moment and not a month later', () => {
    const row = { tags: ['type:web'], slot_first: daysAgo(3), changed_at: daysAgo(2) };
    const judged = (at: Date) =>
      scorePort(portInput(row, at), cfg)
        .features.filter((f) => f.contribution > 0)
        .map((f) => f.name);
    expect(judged(NOW)).toEqual(expect.arrayContaining(['newly_appeared', 'recently_changed']));
    const later = judged(new Date(NOW.getTime() + 30 * 86_400_000));
    expect(later).not.toContain('newly_appeared');
    expect(later).not.toContain('recently_changed');
  });
});
