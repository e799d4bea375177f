import { describe, expect, it } from 'vitest';
import { decideSighting, type SightingDecision, type SightingInput } from './decide.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);

describe('decideSighting: what one open port seen by a scan does to its slot history', () => {
  it.each<[string, SightingInput, SightingDecision]>([
    ['nothing known at the slot: appeared', { historic: false, known: false, hsh256: A }, { action: 'insert', events: ['appeared'] }],
    [
      'an older scan: history widened, no event',
      { historic: true, current: { hsh256: A, open: true, viewHead: true }, viewHead: { hsh256: A }, known: false, hsh256: B },
      { action: 'historic', events: [] },
    ],
    [
      'same fingerprint, still open: stable',
      { historic: false, current: { hsh256: A, open: true, viewHead: true }, viewHead: { hsh256: A }, known: true, hsh256: A },
      { action: 'touch-current', events: [] },
    ],
    [
      'same fingerprint after it had gone: reappeared',
      { historic: false, current: { hsh256: A, open: false, viewHead: true }, viewHead: { hsh256: A }, known: true, hsh256: A },
      { action: 'touch-current', events: ['reappeared'] },
    ],
    [
      'open port with a new fingerprint: changed',
      { historic: false, current: { hsh256: A, open: true, viewHead: true }, viewHead: { hsh256: A }, known: false, hsh256: B },
      { action: 'switch-to-new', events: ['changed'] },
    ],
    [
      'open port back to an earlier fingerprint: changed',
      { historic: false, current: { hsh256: A, open: true, viewHead: true }, viewHead: { hsh256: A }, known: true, hsh256: B },
      { action: 'switch-to-known', events: ['changed'] },
    ],
    [
      'gone port back with an earlier fingerprint: reappeared',
      { historic: false, current: { hsh256: A, open: false, viewHead: true }, viewHead: { hsh256: A }, known: true, hsh256: B },
      { action: 'switch-to-known', events: ['reappeared'] },
    ],
    [
      'gone port back with a fingerprint never seen here: reappeared, then changed',
      { historic: false, current: { hsh256: A, open: false, viewHead: true }, viewHead: { hsh256: A }, known: false, hsh256: B },
      { action: 'switch-to-new', events: ['reappeared', 'changed'] },
    ],
    [
      'a known fingerprint at a slot without a current row: reappeared',
      { historic: false, known: true, hsh256: A },
      { action: 'restore', events: ['reappeared'] },
    ],
    // Views: the current row was written by another view (e.g. `web`) and this view (e.g. `banner`) sees the port.
    [
      'another view first sees an open port: a sighting, no event',
      { historic: false, current: { hsh256: A, open: true, viewHead: false }, known: false, hsh256: B },
      { action: 'switch-to-new', events: [] },
    ],
    [
      'a view sees its own last fingerprint after another view: no event',
      { historic: false, current: { hsh256: A, open: true, viewHead: false }, viewHead: { hsh256: B }, known: true, hsh256: B },
      { action: 'switch-to-known', events: [] },
    ],
    [
      'a view sees a new fingerprint after another view: changed (against its own)',
      { historic: false, current: { hsh256: A, open: true, viewHead: false }, viewHead: { hsh256: B }, known: false, hsh256: C },
      { action: 'switch-to-new', events: ['changed'] },
    ],
    [
      'a view back to its earlier fingerprint after another view: changed',
      { historic: false, current: { hsh256: A, open: true, viewHead: false }, viewHead: { hsh256: B }, known: true, hsh256: C },
      { action: 'switch-to-known', events: ['changed'] },
    ],
    [
      "another view's fingerprint equal to this view's is still compared within this view",
      { historic: false, current: { hsh256: A, open: true, viewHead: false }, viewHead: { hsh256: A }, known: true, hsh256: A },
      { action: 'switch-to-known', events: [] },
    ],
    [
      'a gone port seen again by another view: reappeared once, no change',
      { historic: false, current: { hsh256: A, open: false, viewHead: false }, known: false, hsh256: B },
      { action: 'switch-to-new', events: ['reappeared'] },
    ],
    [
      'a gone port seen again by a view with its own fingerprint: reappeared',
      { historic: false, current: { hsh256: A, open: false, viewHead: false }, viewHead: { hsh256: B }, known: true, hsh256: B },
      { action: 'switch-to-known', events: ['reappeared'] },
    ],
    [
      'a gone port back with a fingerprint new to its view: reappeared, then changed',
      { historic: false, current: { hsh256: A, open: false, viewHead: false }, viewHead: { hsh256: B }, known: false, hsh256: C },
      { action: 'switch-to-new', events: ['reappeared', 'changed'] },
    ],
  ])('%s', (_case, input, expected) => {
    expect(decideSighting(input)).toEqual(expected);
  });
});
