import ipaddr from 'ipaddr.js';
import { PlumError } from './errors.ts';

/**
 * The ports a job covered, per protocol. Only covered ports can be declared
 * `gone`: a port outside the job's scope was not looked at.
 */
export interface PortCoverage {
  covers(protocol: string, port: number): boolean;
  /** True when nothing is known to be covered (then nothing can be gone). */
  empty: boolean;
}

type Ranges = Array<[number, number]>;

/**
 * Parses an nmap port list (`22,80,443`, `1-1024`, `-`, `T:22,U:53`) into ranges per protocol: nmap's
 * grammar, as its XML reports what it scanned. A profile's ports are user input, validated more strictly
 * by core/profiles.ts parsePortList.
 */
export function parsePortSpec(spec: string, defaultProtocol: 'tcp' | 'udp' = 'tcp'): Map<string, Ranges> {
  const out = new Map<string, Ranges>();
  let proto: string = defaultProtocol;
  for (const raw of spec.split(',')) {
    let item = raw.trim();
    if (!item) continue;
    const prefixed = /^([TUS]):(.*)$/i.exec(item);
    if (prefixed) {
      proto = ({ t: 'tcp', u: 'udp', s: 'sctp' } as Record<string, string>)[prefixed[1]!.toLowerCase()]!;
      item = prefixed[2]!.trim();
      if (!item) continue;
    }
    const m = /^(\d*)\s*-\s*(\d*)$/.exec(item);
    let lo: number;
    let hi: number;
    if (m) {
      lo = m[1] ? Number(m[1]) : 1;
      hi = m[2] ? Number(m[2]) : 65535;
    } else if (/^\d+$/.test(item)) {
      lo = hi = Number(item);
    } else {
      throw new PlumError('invalid_input', `invalid port specification "${raw.trim()}" in "${spec}"`, {
        hint: 'use numbers and ranges such as 22,80,8000-8100',
      });
    }
    if (lo > hi || hi > 65535) {
      throw new PlumError('invalid_input', `invalid port range "${item}"`, { hint: 'ports go from 0 to 65535' });
    }
    if (!out.has(proto)) out.set(proto, []);
    out.get(proto)!.push([lo, hi]);
  }
  return out;
}

export function coverageFrom(parts: Array<{ protocol: string; spec: string | undefined | null }>): PortCoverage {
  const byProto = new Map<string, Ranges>();
  for (const { protocol, spec } of parts) {
    if (!spec) continue;
    for (const [p, ranges] of parsePortSpec(spec, protocol === 'udp' ? 'udp' : 'tcp')) {
      byProto.set(p, [...(byProto.get(p) ?? []), ...ranges]);
    }
  }
  return {
    empty: byProto.size === 0,
    covers(protocol, port) {
      const ranges = byProto.get(protocol);
      if (!ranges) return false;
      for (const [lo, hi] of ranges) if (port >= lo && port <= hi) return true;
      return false;
    },
  };
}

/** The address as PostgreSQL prints an inet host, so keys built in JS match rows read back. */
/** A dotted quad already in canonical form (no leading zeros, each part ≤ 255): returned as it is. */
const CANONICAL_IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function canonicalIp(ip: string): string {
  // Nearly every address nmap writes; ipaddr's parse was a visible share of an ingest's bookkeeping.
  if (CANONICAL_IPV4.test(ip)) return ip;
  try {
    const a = ipaddr.parse(ip);
    if (a.kind() === 'ipv6') {
      const v6 = a as ipaddr.IPv6;
      if (v6.isIPv4MappedAddress()) return `::ffff:${v6.toIPv4Address().toString()}`;
      return v6.toRFC5952String();
    }
    return a.toString();
  } catch {
    throw new PlumError('invalid_input', `invalid IP address "${ip}" in scan result`, { hint: 'check the nmap XML' });
  }
}
