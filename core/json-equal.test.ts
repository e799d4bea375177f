import { describe, expect, it } from 'vitest';
import { canonicalJson } from './nmap/fingerprint.ts';
import { jsonEqual } from './json-equal.ts';

describe('jsonEqual', () => {
  const cases: [string, unknown, unknown, boolean][] = [
    ['same primitives', 'a', 'a', true],
    ['different strings', 'a', 'b', false],
    ['0 and -0', 0, -0, true],
    ['number and its string', 1, '1', false],
    ['null and undefined', null, undefined, false],
    ['null and an empty object', null, {}, false],
    ['keys in another order', { a: 1, b: [1, 2] }, { b: [1, 2], a: 1 }, true],
    ['an undefined key is absent', { a: 1, b: undefined }, { a: 1 }, true],
    ['a null key is present', { a: 1, b: null }, { a: 1 }, false],
    ['one key more', { a: 1 }, { a: 1, c: 2 }, false],
    ['array order matters', [1, 2], [2, 1], false],
    ['array and object', [], {}, false],
    ['different lengths', [1], [1, 1], false],
    [
      'nested score features',
      { band: 'high', features: [{ name: 'x', value: null, normalized: 0.5 }] },
      { features: [{ normalized: 0.5, value: null, name: 'x' }], band: 'high' },
      true,
    ],
    ['nested difference', { f: [{ v: 1 }] }, { f: [{ v: 2 }] }, false],
  ];
  it.each(cases)('%s', (_name, a, b, equal) => {
    expect(jsonEqual(a, b)).toBe(equal);
    expect(jsonEqual(b, a)).toBe(equal);
  });

  it('agrees with comparing canonical serialisations on JSON documents', () => {
    const docs = [{ a: [1, { b: null }] }, { a: [1, { b: 0 }] }, { a: [1, {}] }, { a: [1, { b: null }], c: 'x' }, [], [null], 'a', 3, null];
    for (const x of docs) for (const y of docs) expect(jsonEqual(x, y)).toBe(canonicalJson(x) === canonicalJson(y));
  });
});
