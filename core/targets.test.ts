import { describe, expect, it } from 'vitest';
import { PlumError } from './errors.ts';
import {
  findOverlaps,
  intervalsCover,
  intervalToString,
  mergeIntervals,
  parseLabel,
  parseTarget,
  subtractIntervals,
  toInterval,
  type AddressTarget,
} from './targets.ts';

const iv = (s: string) => toInterval(parseTarget(s) as AddressTarget);

describe('parseTarget', () => {
  it('parses addresses, CIDRs, ranges and names into canonical values', () => {
    expect(parseTarget('192.0.2.1')).toMatchObject({ kind: 'ip', value: '192.0.2.1', family: 4, size: 1n, first: 3221225985n });
    expect(parseTarget('255.255.255.255')).toMatchObject({ first: 4294967295n });
    expect(parseTarget('0.0.0.0')).toMatchObject({ first: 0n });
    expect(parseTarget(' 2001:DB8:0::1 ')).toMatchObject({ kind: 'ip', value: '2001:db8::1', family: 6 });
    expect(parseTarget('192.0.2.0/24')).toMatchObject({ kind: 'cidr', value: '192.0.2.0/24', size: 256n });
    expect(parseTarget('192.0.2.7/32')).toMatchObject({ kind: 'ip', value: '192.0.2.7' });
    expect(parseTarget('2001:db8::/120')).toMatchObject({ kind: 'cidr', value: '2001:db8::/120', size: 256n });
    expect(parseTarget('10.0.0.5-10.0.1.9')).toMatchObject({ kind: 'range', value: '10.0.0.5-10.0.1.9', size: 261n });
    expect(parseTarget('10.0.0.5-9')).toMatchObject({ kind: 'range', value: '10.0.0.5-10.0.0.9', size: 5n });
    expect(parseTarget('2001:db8::1-2001:db8::10')).toMatchObject({ kind: 'range', family: 6, size: 16n });
    expect(parseTarget('WWW.Example.org.')).toEqual({ kind: 'fqdn', value: 'www.example.org' });
    expect(parseTarget('my-host.example-1.org')).toEqual({ kind: 'fqdn', value: 'my-host.example-1.org' });
    expect(parseTarget('cafe-bad.de')).toEqual({ kind: 'fqdn', value: 'cafe-bad.de' });
    expect(parseTarget('localhost')).toEqual({ kind: 'fqdn', value: 'localhost' });
  });

  const refused: Array<[string, RegExp]> = [
    ['', /empty/],
    ['300.1.1.1', /not a valid IPv4 address/],
    ['127.1', /not a valid IPv4 address/],
    ['010.0.0.1', /not a valid IPv4 address/],
    ['1.2.3.256', /not a valid IPv4 address/],
    ['192.0.2.1/24', /host bits are set.*192\.0\.2\.0\/24/],
    ['192.0.2.0/33', /longer than 32 bits/],
    ['10.0.0.9-10.0.0.1', /ends before it starts/],
    ['10.0.0.1-2001:db8::1', /mixes IPv4 and IPv6/],
    ['10.0.0.0/7', /more than one target may hold/],
    ['2001:db8::/64', /more than one target may hold/],
    ['-iL', /starts with "-"/],
    ['a b', /whitespace/],
    ['bad_name!.org', /not an address, a range or a valid domain name/],
    ['-foo.example.org', /starts with "-"/],
  ];
  it.each(refused)('refuses %j with a clear message and a hint', (input, re) => {
    let err: unknown;
    try {
      parseTarget(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PlumError);
    expect((err as PlumError).code).toBe('invalid_input');
    expect((err as PlumError).oneLine()).toMatch(re);
    expect((err as PlumError).hint).toBeTruthy();
  });
});

describe('intervals', () => {
  it('merges, subtracts and prints intervals', () => {
    const merged = mergeIntervals([iv('10.0.0.0/25'), iv('10.0.0.128/25'), iv('10.0.2.1'), iv('2001:db8::/126')]);
    expect(merged.map(intervalToString)).toEqual(['10.0.0.0/24', '10.0.2.1', '2001:db8::/126']);
    const rest = subtractIntervals(merged, mergeIntervals([iv('10.0.0.10-10.0.0.20'), iv('2001:db8::')]));
    expect(rest.map(intervalToString)).toEqual(['10.0.0.0-10.0.0.9', '10.0.0.21-10.0.0.255', '10.0.2.1', '2001:db8::1-2001:db8::3']);
    expect(subtractIntervals([iv('10.0.0.0/24')], [iv('10.0.0.0/16')])).toEqual([]);
  });
});

describe('intervalsCover', () => {
  const iv = (v: string) => toInterval(parseTarget(v) as AddressTarget);
  const merged = mergeIntervals(['10.0.0.0/24', '10.0.2.0-10.0.2.9', '192.0.2.7', '2001:db8::/126'].map(iv));
  it.each([
    ['an address inside the first range', '10.0.0.200', true],
    ['the first and last of a range', '10.0.2.0', true],
    ['the last of a range', '10.0.2.9', true],
    ['just past a range', '10.0.2.10', false],
    ['between ranges', '10.0.1.5', false],
    ['a single declared address', '192.0.2.7', true],
    ['before every range', '9.255.255.255', false],
    ['after every IPv4 range', '203.0.113.1', false],
    ['an IPv6 address inside', '2001:db8::3', true],
    ['an IPv6 address outside', '2001:db8::4', false],
    ['a range held whole', '10.0.0.10-10.0.0.20', true],
    ['a range running past the end', '10.0.2.5-10.0.2.15', false],
  ])('%s: %s → %s', (_what, v, expected) => {
    expect(intervalsCover(merged, iv(v))).toBe(expected);
  });
  it('nothing covers anything in an empty list', () => {
    expect(intervalsCover([], iv('10.0.0.1'))).toBe(false);
  });
});

describe('findOverlaps', () => {
  it('reports overlaps between added and existing targets without merging them', () => {
    const existing = [parseTarget('10.0.0.0/24'), parseTarget('www.example.org'), parseTarget('192.0.2.1')];
    const added = [parseTarget('10.0.0.128-10.0.1.5'), parseTarget('www.example.org'), parseTarget('198.51.100.1'), parseTarget('10.0.1.0/30')];
    const o = findOverlaps(added, existing);
    expect(o).toEqual(
      expect.arrayContaining([
        { target: '10.0.0.128-10.0.1.5', overlaps: '10.0.0.0/24', shared: 128n },
        { target: '10.0.1.0/30', overlaps: '10.0.0.128-10.0.1.5', shared: 4n },
        { target: 'www.example.org', overlaps: 'www.example.org', shared: 1n },
      ]),
    );
    expect(o).toHaveLength(3);
    expect(findOverlaps([parseTarget('198.51.100.0/24')], existing)).toEqual([]);
  });
});

describe('parseLabel', () => {
  it('lowercases and validates labels', () => {
    expect(parseLabel('DMZ')).toBe('dmz');
    expect(() => parseLabel('a b')).toThrow(/invalid label/);
  });
});
