import ipaddr from 'ipaddr.js';
import { describe, expect, it } from 'vitest';
import { canonicalIp } from './coverage.ts';

describe('canonicalIp', () => {
  it('returns canonical dotted quads unchanged, as ipaddr.js writes them', () => {
    let seed = 11;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    for (let i = 0; i < 20_000; i++) {
      const ip = [rnd(256), rnd(256), rnd(256), rnd(256)].join('.');
      expect(canonicalIp(ip)).toBe(ip);
      expect(ipaddr.parse(ip).toString()).toBe(ip);
    }
  });

  it('normalises the other forms ipaddr.js accepts, and refuses the rest with a one-line error', () => {
    expect(canonicalIp('2001:DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(canonicalIp('::ffff:127.0.0.1')).toBe('::ffff:127.0.0.1');
    expect(canonicalIp('0x7f.0.0.1')).toBe(ipaddr.parse('0x7f.0.0.1').toString());
    expect(canonicalIp('127.000.000.001')).toBe(ipaddr.parse('127.000.000.001').toString());
    expect(canonicalIp('1.2.3')).toBe(ipaddr.parse('1.2.3').toString());
    for (const bad of ['256.0.0.1', 'example.org', '']) expect(() => canonicalIp(bad), bad).toThrow(/invalid IP address/);
  });
});
