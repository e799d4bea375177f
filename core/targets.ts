import ipaddr from 'ipaddr.js';
import { PlumError } from './errors.ts';

/**
 * Scan targets: IPv4/IPv6 addresses, CIDR ranges, address ranges (`a-b`, and
 * nmap's last-octet shorthand `10.0.0.5-9`) and FQDNs. Everything is parsed at
 * the edge into one shape with a numeric interval, so scope checks, overlap
 * detection and planning work on integers, never on strings.
 */
export type TargetKind = 'ip' | 'cidr' | 'range' | 'fqdn';
export type AddressFamily = 4 | 6;

export interface AddressTarget {
  kind: 'ip' | 'cidr' | 'range';
  /** Canonical text: `10.0.0.1`, `10.0.0.0/24`, `10.0.0.5-10.0.0.9`, `2001:db8::/120`. */
  value: string;
  family: AddressFamily;
  /** First and last address of the interval, inclusive, as integers. */
  first: bigint;
  last: bigint;
  /** Number of addresses (last - first + 1). */
  size: bigint;
}

export interface NameTarget {
  kind: 'fqdn';
  /** Lowercased, without a trailing dot. */
  value: string;
}

export type ParsedTarget = AddressTarget | NameTarget;

/** An address interval of one family; the unit of every range computation here. */
export interface Interval {
  family: AddressFamily;
  first: bigint;
  last: bigint;
}

/**
 * Largest target accepted: an IPv4 /8, an IPv6 /104 (16,777,216 addresses).
 * Bigger blocks are almost always a typo (/1 for /31) and would plan millions of jobs.
 */
export const MAX_TARGET_SIZE = 1n << 24n;

/** Dotted quad without leading zeros (those are ambiguous: octal for some tools). */
const DOTTED_QUAD = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

const HOSTNAME_LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

export function isAddressTarget(t: ParsedTarget): t is AddressTarget {
  return t.kind !== 'fqdn';
}

function bad(value: string, why: string, hint: string): PlumError {
  return new PlumError('invalid_input', `invalid target "${value}": ${why}`, { hint, details: { target: value } });
}

/** Integer value of an address. */
export function addressToBigInt(addr: ipaddr.IPv4 | ipaddr.IPv6): bigint {
  const bytes = addr.toByteArray();
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

/** Address text of an integer, in the family's canonical (RFC 5952 for IPv6) form. */
export function bigIntToAddress(n: bigint, family: AddressFamily): string {
  if (family === 4) {
    const v = Number(n);
    return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const bytes: number[] = new Array(16);
  let x = n;
  for (let i = 15; i >= 0; i--) {
    bytes[i] = Number(x & 255n);
    x >>= 8n;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  // ipaddr.js also accepts "127.1" and hex/octal IPv4 forms; only dotted quads are targets.
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (text.includes(':') && ipaddr.IPv6.isValid(text)) {
    const a = ipaddr.IPv6.parse(text);
    if (a.zoneId) return null;
    // ::ffff:a.b.c.d is the IPv4 address a.b.c.d (the kernel sends to it over IPv4): one address, one
    // form, so an IPv4 exclusion also excludes its mapped form and scope checks cannot be side-stepped.
    if (a.isIPv4MappedAddress()) return a.toIPv4Address();
    return a;
  }
  return null;
}

const familyOf = (a: ipaddr.IPv4 | ipaddr.IPv6): AddressFamily => (a.kind() === 'ipv4' ? 4 : 6);
const bitsOf = (f: AddressFamily) => (f === 4 ? 32 : 128);

function tooBig(value: string, size: bigint): PlumError {
  return bad(value, `${size} addresses is more than one target may hold (at most an IPv4 /8 or an IPv6 /104)`, 'split it into smaller ranges');
}

/** Parses one target; throws PlumError('invalid_input') with a hint on anything else. */
export function parseTarget(input: string): ParsedTarget {
  const value = String(input ?? '').trim();
  if (value === '') throw bad(input, 'empty value', 'give an address, a CIDR range, a range a-b or a domain name');
  if (/\s/.test(value)) throw bad(value, 'contains whitespace', 'give one target per argument');
  if (value.startsWith('-')) throw bad(value, 'starts with "-"', 'targets cannot look like command-line options');

  // Fast path for the commonest input (perimeters of millions of single addresses).
  const quad = DOTTED_QUAD.exec(value);
  if (quad) {
    const o = [quad[1], quad[2], quad[3], quad[4]].map(Number);
    if (o.every((x) => x <= 255)) {
      const n = ((o[0]! << 24) >>> 0) + (o[1]! << 16) + (o[2]! << 8) + o[3]!;
      const b = BigInt(n);
      return { kind: 'ip', value, family: 4, first: b, last: b, size: 1n };
    }
  }
  if (value.includes('/')) return parseCidr(value);
  const dash = value.indexOf('-');
  if (dash > 0 && parseAddress(value.slice(0, dash))) {
    return parseRange(value, dash);
  }
  const addr = parseAddress(value);
  if (addr) {
    const n = addressToBigInt(addr);
    const family = familyOf(addr);
    return { kind: 'ip', value: bigIntToAddress(n, family), family, first: n, last: n, size: 1n };
  }
  return parseName(value);
}

function parseCidr(value: string): AddressTarget {
  const [addrText, lenText, ...rest] = value.split('/');
  const addr = rest.length === 0 ? parseAddress(addrText!) : null;
  if (!addr || !/^\d{1,3}$/.test(lenText ?? '')) {
    throw bad(value, 'not a CIDR range', 'write it as ADDRESS/PREFIX, e.g. 192.0.2.0/24 or 2001:db8::/120');
  }
  const family = familyOf(addr);
  const bits = bitsOf(family);
  let prefix = Number(lenText);
  // A mapped range (::ffff:10.0.0.0/104) is the IPv4 range 10.0.0.0/8; its prefix counts from bit 96.
  if (family === 4 && addrText!.includes(':')) {
    if (prefix < 96) throw bad(value, 'reaches outside the IPv4-mapped range ::ffff:0:0/96', 'give the IPv4 range instead');
    prefix -= 96;
  }
  if (prefix > bits) throw bad(value, `prefix /${prefix} is longer than ${bits} bits`, `use a prefix between 0 and ${bits}`);
  const hostBits = BigInt(bits - prefix);
  const size = 1n << hostBits;
  const n = addressToBigInt(addr);
  const first = (n >> hostBits) << hostBits;
  if (first !== n) {
    const network = `${bigIntToAddress(first, family)}/${prefix}`;
    throw bad(value, 'host bits are set', `did you mean ${network}?`);
  }
  if (size > MAX_TARGET_SIZE) throw tooBig(value, size);
  const canonical = `${bigIntToAddress(first, family)}/${prefix}`;
  if (size === 1n) return { kind: 'ip', value: bigIntToAddress(first, family), family, first, last: first, size };
  return { kind: 'cidr', value: canonical, family, first, last: first + size - 1n, size };
}

function parseRange(value: string, dash: number): AddressTarget {
  const left = value.slice(0, dash);
  const right = value.slice(dash + 1);
  const a = parseAddress(left);
  if (!a) throw bad(value, `"${left}" is not an address`, 'write a range as FIRST-LAST, e.g. 192.0.2.10-192.0.2.20');
  const family = familyOf(a);
  let b: ipaddr.IPv4 | ipaddr.IPv6 | null = parseAddress(right);
  if (!b && family === 4 && /^\d{1,3}$/.test(right) && Number(right) <= 255) {
    // nmap's last-octet shorthand: 10.0.0.5-9
    const octets = (a as ipaddr.IPv4).octets.slice();
    octets[3] = Number(right);
    b = new ipaddr.IPv4(octets);
  }
  if (!b) throw bad(value, `"${right}" is not an address`, 'write a range as FIRST-LAST, e.g. 192.0.2.10-192.0.2.20');
  if (familyOf(b) !== family) throw bad(value, 'mixes IPv4 and IPv6', 'both ends must be of the same family');
  const first = addressToBigInt(a);
  const last = addressToBigInt(b);
  if (last < first) throw bad(value, 'the range ends before it starts', `did you mean ${right}-${left}?`);
  const size = last - first + 1n;
  if (size > MAX_TARGET_SIZE) throw tooBig(value, size);
  if (size === 1n) return { kind: 'ip', value: bigIntToAddress(first, family), family, first, last, size };
  return {
    kind: 'range',
    value: `${bigIntToAddress(first, family)}-${bigIntToAddress(last, family)}`,
    family,
    first,
    last,
    size,
  };
}

function parseName(value: string): NameTarget {
  const name = value.toLowerCase().replace(/\.$/, '');
  if (name.length > 253) throw bad(value, 'name longer than 253 characters', 'check the domain name');
  const labels = name.split('.');
  if (labels.some((l) => !HOSTNAME_LABEL.test(l))) {
    throw bad(
      value,
      'not an address, a range or a valid domain name',
      'use letters, digits and hyphens in names, e.g. www.example.org, or an address like 192.0.2.1',
    );
  }
  if (/^\d+$/.test(labels[labels.length - 1]!)) {
    throw bad(value, 'not a valid IPv4 address', 'write addresses as four numbers 0-255, e.g. 192.0.2.1');
  }
  return { kind: 'fqdn', value: name };
}

/** Interval of an address target. */
export function toInterval(t: AddressTarget): Interval {
  return { family: t.family, first: t.first, last: t.last };
}

/** Sorts and merges overlapping or adjacent intervals of each family. */
export function mergeIntervals(list: Interval[]): Interval[] {
  const sorted = [...list].sort((a, b) => a.family - b.family || (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const out: Interval[] = [];
  for (const iv of sorted) {
    const prev = out[out.length - 1];
    if (prev && prev.family === iv.family && iv.first <= prev.last + 1n) {
      if (iv.last > prev.last) prev.last = iv.last;
    } else {
      out.push({ ...iv });
    }
  }
  return out;
}

/** `a` minus `b` (both merged and sorted, as returned by mergeIntervals). */
export function subtractIntervals(a: Interval[], b: Interval[]): Interval[] {
  const out: Interval[] = [];
  let j = 0;
  for (const iv of a) {
    let cur: Interval | null = { ...iv };
    while (j < b.length && (b[j]!.family < iv.family || (b[j]!.family === iv.family && b[j]!.last < iv.first))) j++;
    let k = j;
    while (cur && k < b.length && b[k]!.family === cur.family && b[k]!.first <= cur.last) {
      const ex = b[k]!;
      if (ex.first > cur.first) out.push({ family: cur.family, first: cur.first, last: ex.first - 1n });
      cur = ex.last >= cur.last ? null : { family: cur.family, first: ex.last + 1n, last: cur.last };
      k++;
    }
    if (cur) out.push(cur);
  }
  return out;
}

/** Intersection of two merged, sorted interval lists. */
export function intersectIntervals(a: Interval[], b: Interval[]): Interval[] {
  const out: Interval[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    if (x.family !== y.family) {
      if (x.family < y.family) i++;
      else j++;
      continue;
    }
    const first = x.first > y.first ? x.first : y.first;
    const last = x.last < y.last ? x.last : y.last;
    if (first <= last) out.push({ family: x.family, first, last });
    if (x.last < y.last) i++;
    else j++;
  }
  return out;
}

/** True when one of `merged` (sorted and merged, as mergeIntervals returns them) holds `iv` whole; a binary search. */
export function intervalsCover(merged: readonly Interval[], iv: Interval): boolean {
  let lo = 0;
  let hi = merged.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = merged[mid]!;
    if (s.family < iv.family || (s.family === iv.family && s.last < iv.first)) lo = mid + 1;
    else if (s.family > iv.family || s.first > iv.last) hi = mid - 1;
    else return s.first <= iv.first && iv.last <= s.last;
  }
  return false;
}

/** Text of an interval: an address, a CIDR when aligned, else FIRST-LAST. */
export function intervalToString(iv: Interval): string {
  if (iv.first === iv.last) return bigIntToAddress(iv.first, iv.family);
  const size = iv.last - iv.first + 1n;
  if ((size & (size - 1n)) === 0n && iv.first % size === 0n) {
    const prefix = bitsOf(iv.family) - (size.toString(2).length - 1);
    return `${bigIntToAddress(iv.first, iv.family)}/${prefix}`;
  }
  return `${bigIntToAddress(iv.first, iv.family)}-${bigIntToAddress(iv.last, iv.family)}`;
}

export interface TargetOverlap {
  /** The value being added (or the first of a pair). */
  target: string;
  /** The existing value it overlaps. */
  overlaps: string;
  /** Number of shared addresses (1 for identical names). */
  shared: bigint;
}

/**
 * Overlaps between `added` and `existing` targets (and within `added`), for
 * reporting: overlapping targets are kept as given, never silently merged.
 * Sorted sweep, O(n log n) for the usual non-overlapping case.
 */
export function findOverlaps(added: ParsedTarget[], existing: ParsedTarget[] = []): TargetOverlap[] {
  const out: TargetOverlap[] = [];
  type Item = { t: AddressTarget; isNew: boolean; order: number };
  const items: Item[] = [];
  existing.forEach((t, order) => isAddressTarget(t) && items.push({ t, isNew: false, order }));
  added.forEach((t, order) => isAddressTarget(t) && items.push({ t, isNew: true, order }));
  items.sort((a, b) => a.t.family - b.t.family || (a.t.first < b.t.first ? -1 : a.t.first > b.t.first ? 1 : 0));
  const active: Item[] = [];
  for (const it of items) {
    for (let i = active.length - 1; i >= 0; i--) {
      const a = active[i]!;
      if (a.t.family !== it.t.family || a.t.last < it.t.first) active.splice(i, 1);
    }
    for (const a of active) {
      if (!a.isNew && !it.isNew) continue;
      const last = a.t.last < it.t.last ? a.t.last : it.t.last;
      const shared = last - it.t.first + 1n;
      // Report from the point of view of the added target.
      const [target, other] = it.isNew && (!a.isNew || a.order < it.order) ? [it, a] : [a, it];
      out.push({ target: target.t.value, overlaps: other.t.value, shared });
    }
    active.push(it);
  }
  const names = new Map<string, boolean>();
  for (const t of existing) if (t.kind === 'fqdn') names.set(t.value, false);
  for (const t of added) {
    if (t.kind !== 'fqdn') continue;
    if (names.has(t.value)) out.push({ target: t.value, overlaps: t.value, shared: 1n });
    else names.set(t.value, true);
  }
  return out;
}

/** Number of addresses in merged intervals. */
export function countAddresses(list: Interval[]): bigint {
  let n = 0n;
  for (const iv of list) n += iv.last - iv.first + 1n;
  return n;
}

/** Canonical label: lowercase letters, digits, `_`, `-`, `.`; 1-64 characters. */
export function parseLabel(label: string): string {
  const l = String(label ?? '')
    .trim()
    .toLowerCase();
  if (!/^[a-z0-9][a-z0-9_.-]{0,63}$/.test(l)) {
    throw new PlumError('invalid_input', `invalid label "${label}"`, {
      hint: 'use letters, digits, "_", "-" or "." (at most 64 characters)',
    });
  }
  return l;
}
