import * as crypto from 'node:crypto';
import type { HostDocument, PortDocument } from './types.ts';
import { normalizeScript, normalizeServiceFp } from './normalize.ts';
import type { VolatileList } from './volatile.ts';

/*
 * hsh256: Plum's fingerprint of a port document and of a host document.
 *
 * Input = the document with times and network-path values removed (the
 * `exclude` lists of volatile.yaml), volatile values replaced by fixed markers,
 * scripts put in a stable order; serialised as RFC 8785 canonical JSON
 * (`canonicalize`), hashed with SHA-256. The same service seen again gives the
 * same hash; any real change (title, certificate, version, banner, scripts)
 * gives another one.
 *
 * A port fingerprint covers the port only (not the IP or hostnames), so the
 * same service on two addresses has the same fingerprint.
 */

/** Version of the algorithm above; bump when its output changes. */
export const FP_ALGORITHM = 1;

/**
 * The fingerprint version recorded with every document: algorithm × 1000 +
 * volatile list version, so a change of either is visible in stored data.
 */
export function fingerprintVersion(list: VolatileList): number {
  return FP_ALGORITHM * 1000 + list.version;
}

/** fp_version with the shipped volatile list (version 1): 1001. */
export const FP_VERSION = 1001;

/** One-shot crypto.hash (Node ≥ 20.12) is much cheaper than a Hash object per call. */
const oneShot = (crypto as { hash?: (alg: string, data: string, enc: 'hex') => string }).hash;

function sha256(text: string): string {
  if (oneShot) return oneShot('sha256', text, 'hex');
  return crypto.createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Already-canonical JSON text, written as is (internal: avoids serialising a script twice). */
class RawJson {
  constructor(readonly json: string) {}
}

/** JSON.stringify of object keys, cached (the same few keys recur in every document). */
const keyCache = new Map<string, string>();
function jsonKey(k: string): string {
  let s = keyCache.get(k);
  if (s === undefined) {
    s = JSON.stringify(k);
    if (keyCache.size < 50_000) keyCache.set(k, s);
  }
  return s;
}

/**
 * RFC 8785 (JCS) canonical JSON. Equivalent to the `canonicalize` package for
 * our documents (checked by fingerprint.test.ts on real fixtures) but several
 * times faster: keys sorted by UTF-16 code units, strings and numbers as
 * ECMAScript JSON.stringify writes them, undefined members skipped.
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') {
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return 'null';
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('non-finite number in canonical JSON');
    return JSON.stringify(value);
  }
  if (value instanceof RawJson) return value.json;
  if (Array.isArray(value)) {
    const n = value.length;
    if (n === 0) return '[]';
    let out = '[' + canonicalJson(value[0]);
    for (let i = 1; i < n; i++) out += ',' + canonicalJson(value[i]);
    return out + ']';
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (keys.length > 1) keys.sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const v = obj[k];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    if (out.length > 1) out += ',';
    out += jsonKey(k) + ':' + canonicalJson(v);
  }
  return out + '}';
}

const canonical = canonicalJson;

/** Deletes a dotted path from a (cloned) object. */
function dropPath(obj: Record<string, unknown>, path: readonly string[]): void {
  let cur: unknown = obj;
  for (let i = 0; i < path.length - 1; i++) {
    if (!cur || typeof cur !== 'object') return;
    cur = (cur as Record<string, unknown>)[path[i]!];
  }
  if (cur && typeof cur === 'object') delete (cur as Record<string, unknown>)[path[path.length - 1]!];
}

function scriptsInput(scripts: PortDocument['scripts'], list: VolatileList, raw = false): unknown[] {
  // The set of scripts matters, not the order nmap printed them in.
  if (scripts.length === 0) return [];
  return scripts
    .map((s) => normalizeScript(s, list))
    .map((s) => {
      const json = canonical(s);
      return { s: raw ? new RawJson(json) : s, key: `${s.id as string}\u0000${json}` };
    })
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((x) => x.s);
}

/** Whether an exclude list reaches into a script list (then scripts must stay plain objects). */
const touches = (paths: readonly string[][], key: string): boolean => paths.some((p) => p[0] === key && p.length > 1);

/** What a port fingerprint is computed over (exported for `plum parse --explain`-style debugging and tests). */
export function portFingerprintInput(doc: PortDocument, list: VolatileList, raw = false): Record<string, unknown> {
  const input: Record<string, unknown> = {
    protocol: doc.protocol,
    portid: doc.portid,
    state: { ...doc.state },
    scripts: scriptsInput(doc.scripts, list, raw && !touches(list.exclude.port, 'scripts')),
  };
  if (doc.service) {
    const svc: Record<string, unknown> = { ...doc.service };
    if (typeof svc.servicefp === 'string') svc.servicefp = normalizeServiceFp(svc.servicefp, list);
    input.service = svc;
  }
  if (doc.owner !== undefined) input.owner = doc.owner;
  for (const p of list.exclude.port) dropPath(input, p);
  return input;
}

export function portFingerprint(doc: PortDocument, list: VolatileList): string {
  return sha256(canonical(portFingerprintInput(doc, list, true)));
}

/**
 * What a host fingerprint is computed over. Ports enter through their own
 * fingerprints (computed once, in `portHashes`), so a host changes exactly when
 * one of its ports does, or when host-level data (names, addresses, OS, host
 * scripts) does.
 */
export function hostFingerprintInput(doc: HostDocument, list: VolatileList, portHashes?: readonly string[], raw = false): Record<string, unknown> {
  const hashes = portHashes ?? doc.ports.map((p) => portFingerprint(p, list));
  const ports = doc.ports
    .map((p, i) => `${p.protocol}/${p.portid} ${hashes[i]}`)
    .sort();
  const input: Record<string, unknown> = {
    addr: doc.addr,
    addresses: [...doc.addresses].sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0)),
    hostnames: [...doc.hostnames].sort((a, b) => (`${a.type} ${a.name}` < `${b.type} ${b.name}` ? -1 : 1)),
    status: { ...doc.status },
    ports,
    extraports: doc.extraports,
    hostscripts: scriptsInput(doc.hostscripts, list, raw && !touches(list.exclude.host, 'hostscripts')),
    extra: { ...doc.extra },
  };
  if (doc.starttime !== undefined) input.starttime = doc.starttime;
  if (doc.endtime !== undefined) input.endtime = doc.endtime;
  if (doc.os) input.os = doc.os;
  if (doc.timedout !== undefined) input.timedout = doc.timedout;
  for (const p of list.exclude.host) dropPath(input, p);
  return input;
}

export function hostFingerprint(doc: HostDocument, list: VolatileList, portHashes?: readonly string[]): string {
  return sha256(canonical(hostFingerprintInput(doc, list, portHashes, true)));
}
