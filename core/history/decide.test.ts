import { describe, expect, it } from 'vitest';
import { decideSighting, type SightingDecision, type SightingInput } from './decide.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

describe('decideSighting: what one open port seen by a scan does to its slot history', () => {
  it.each<[string, SightingInput, SightingDecision]>([
    ['nothing known at the slot: appeared', { historic: false, known: false, hsh256: A }, { action: 'insert', events: ['appeared'] }],
    ['an older scan: history widened, no event', { historic: true, current: { hsh256: A, open: true }, known: false, hsh256: B }, { action: 'historic', events: [] }],
    ['same fingerprint, still open: stable', { historic: false, current: { hsh256: A, open: true }, known: true, hsh256: A }, { action: 'touch-current', events: [] }],
    ['same fingerprint after it had gone: reappeared', { historic: false, current: { hsh256: A, open: false }, known: true, hsh256: A }, { action: 'touch-current', events: ['reappeared'] }],
    ['open port with a new fingerprint: changed', { historic: false, current: { hsh256: A, open: true }, known: false, hsh256: B }, { action: 'switch-to-new', events: ['changed'] }],
    ['open port back to an earlier fingerprint: changed', { historic: false, current: { hsh256: A, open: true }, known: true, hsh256: B }, { action: 'switch-to-known', events: ['changed'] }],
    ['gone port back with an earlier fingerprint: reappeared', { historic: false, current: { hsh256: A, open: false }, known: true, hsh256: B }, { action: 'switch-to-known', events: ['reappeared'] }],
    ['gone port back with a fingerprint never seen here: reappeared, then changed', { historic: false, current: { hsh256: A, open: false }, known: false, hsh256: B }, { action: 'switch-to-new', events: ['reappeared', 'changed'] }],
    ['a known fingerprint at a slot without a current row: reappeared', { historic: false, known: true, hsh256: A }, { action: 'restore', events: ['reappeared'] }],
  ])('%s', (_case, input, expected) => {
    expect(decideSighting(input)).toEqual(expected);
  });
});
