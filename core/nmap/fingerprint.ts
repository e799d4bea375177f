import * as crypto from 'node:crypto';
import type { HostDocument, PortDocument } from './types.ts';
import { MARK, normalizeScript, normalizeServiceFp, normalizeText, stableBanner } from './normalize.ts';
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
const oneShot = (crypto as { hash?: (alg: string, data: string | Buffer, enc: 'hex') => string }).hash;

/** Hex digest of text (UTF-8) or bytes; used for fingerprints and for certificate hashes (fields.ts). */
export function digestHex(alg: 'md5' | 'sha1' | 'sha256', data: string | Buffer): string {
  if (oneShot) return oneShot(alg, data, 'hex');
  return crypto.createHash(alg).update(data).digest('hex');
}

const sha256 = (text: string): string => digestHex('sha256', text);

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
 * Sorts a short list in place. Array#sort allocates its work arrays on every
 * call, and the fingerprint sorts the keys of most objects it writes: those
 * arrays were almost a quarter of everything a parse allocated (sampling heap
 * profile of bench/ingest.ts's parse), so of the young-generation collections,
 * each of which copies the ingest's batch in flight. Insertion sort allocates
 * nothing and, on lists already in order (most documents), only compares
 * neighbours. Long lists (hostile input) still go to Array#sort: no n².
 */
function sortSmall<T>(list: T[], before: (a: T, b: T) => boolean): T[] {
  const n = list.length;
  if (n > 48) return list.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
  for (let i = 1; i < n; i++) {
    const x = list[i]!;
    let j = i - 1;
    if (!before(x, list[j]!)) continue;
    while (j >= 0 && before(x, list[j]!)) {
      list[j + 1] = list[j]!;
      j--;
    }
    list[j + 1] = x;
  }
  return list;
}

const stringBefore = (a: string, b: string): boolean => a < b;

/** Sorts strings in place by UTF-16 code units, as `sort()` does (see sortSmall). */
export function sortStrings(list: string[]): string[] {
  return sortSmall(list, stringBefore);
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
  // Strings (most values) are written inline: a call per leaf was a visible share of the fingerprint.
  if (Array.isArray(value)) {
    const n = value.length;
    if (n === 0) return '[]';
    let out = '[';
    for (let i = 0; i < n; i++) {
      const v: unknown = value[i];
      if (i > 0) out += ',';
      out += typeof v === 'string' ? JSON.stringify(v) : canonicalJson(v);
    }
    return out + ']';
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  const n = keys.length;
  // Documents often hold their keys in order already: insertion sort then only compares neighbours.
  sortStrings(keys);
  let out = '{';
  let first = true;
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    const v = obj[k];
    let json: string;
    if (typeof v === 'string') json = JSON.stringify(v);
    else if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    else json = canonicalJson(v);
    out += (first ? '' : ',') + jsonKey(k) + ':' + json;
    first = false;
  }
  return out + '}';
}

const canonical = canonicalJson;

/** The exclude paths of volatile.yaml as a tree: key → its subtree, or `true` for a key dropped whole. */
type PathTree = Map<string, PathTree | true>;
const pathTrees = new WeakMap<readonly string[][], PathTree>();

function pathTree(paths: readonly string[][]): PathTree {
  let tree = pathTrees.get(paths);
  if (tree) return tree;
  tree = new Map();
  for (const path of paths) {
    let cur = tree;
    for (let i = 0; i < path.length; i++) {
      const k = path[i]!;
      if (i === path.length - 1) {
        cur.set(k, true);
        break;
      }
      const next = cur.get(k);
      if (next === true) break; // an ancestor is dropped whole
      if (next === undefined) cur.set(k, (cur = new Map()));
      else cur = next;
    }
  }
  pathTrees.set(paths, tree);
  return tree;
}

/**
 * A copy of `value` without the tree's paths (only what lies on a path is
 * copied; the document itself is never touched). Built key by key rather than
 * copied and `delete`d: deleting turns an object into a slow dictionary, which
 * the canonical JSON then had to read.
 */
function without(value: unknown, tree: PathTree): unknown {
  if (value === null || typeof value !== 'object' || value instanceof RawJson) return value;
  if (Array.isArray(value)) {
    const out: unknown[] = value.slice();
    for (const [k, sub] of tree) {
      if (!(k in out)) continue;
      const i = k as unknown as number;
      if (sub === true) delete out[i];
      else out[i] = without(out[i], sub);
    }
    return out;
  }
  const obj = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(obj)) {
    const sub = tree.get(k);
    if (sub === true) continue;
    out[k] = sub === undefined ? obj[k] : without(obj[k], sub);
  }
  return out;
}

/**
 * canonicalJson(normalizeScriptValue(value, list, keys, key)) without building
 * the normalised copy (equivalence tested in fingerprint.test.ts): the copy was
 * most of the allocation of a port fingerprint.
 */
function normalizedJson(value: unknown, list: VolatileList, keys: ReadonlySet<string> | undefined, key?: string): string {
  if (typeof value === 'string') {
    if (key !== undefined && keys?.has(key.toLowerCase())) return JSON.stringify(MARK.volatile);
    return JSON.stringify(normalizeText(value, list, keys));
  }
  if (value === null || typeof value !== 'object') return canonicalJson(value);
  if (Array.isArray(value)) {
    const n = value.length;
    if (n === 0) return '[]';
    let out = '[';
    for (let i = 0; i < n; i++) out += (i > 0 ? ',' : '') + normalizedJson(value[i], list, keys);
    return out + ']';
  }
  const obj = value as Record<string, unknown>;
  const names = sortStrings(Object.keys(obj));
  let out = '{';
  let first = true;
  for (const k of names) {
    const v = obj[k];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    out += (first ? '' : ',') + jsonKey(k) + ':' + normalizedJson(v, list, keys, k);
    first = false;
  }
  return out + '}';
}

/** canonicalJson(normalizeScript(script, list)), without the copy (see normalizedJson). */
export function normalizedScriptJson(script: PortDocument['scripts'][number], list: VolatileList): string {
  const rule = list.scripts.get(script.id);
  if (rule === '*') return `{"id":${JSON.stringify(script.id)},"output":${JSON.stringify(MARK.volatile)}}`;
  const names = Object.keys(script);
  if (!Object.hasOwn(script, 'id')) names.push('id'); // normalizeScript always sets it
  sortStrings(names);
  let out = '{';
  let first = true;
  for (const k of names) {
    let json: string;
    if (k === 'id') json = canonicalJson(script.id);
    else {
      const v = script[k];
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
      if (k === 'output' && script.id === 'banner' && typeof v === 'string') {
        json = JSON.stringify(stableBanner(rule?.has('output') ? MARK.volatile : normalizeText(v, list, rule)));
      } else json = normalizedJson(v, list, rule, k);
    }
    out += (first ? '' : ',') + jsonKey(k) + ':' + json;
    first = false;
  }
  return out + '}';
}

function scriptsInput(scripts: PortDocument['scripts'], list: VolatileList, raw = false): unknown[] {
  // The set of scripts matters, not the order nmap printed them in.
  if (scripts.length === 0) return [];
  const keyed: KeyedScript[] = raw
    ? scripts.map((s) => {
        const json = normalizedScriptJson(s, list);
        return { s: new RawJson(json), id: s.id, json };
      })
    : scripts.map((s) => normalizeScript(s, list)).map((s) => ({ s, id: s.id as string, json: canonical(s) }));
  return sortSmall(keyed, scriptBefore).map((x) => x.s);
}

interface KeyedScript {
  s: unknown;
  id: string;
  json: string;
}
/**
 * By id, then by the script's canonical JSON: the order of the key `${id}\0${json}` (XML cannot hold U+0000, so
 * no id contains it and an id that is a prefix of another sorts first either way), without building the key —
 * comparing built keys flattened a copy of every script's JSON. Scripts of one port rarely share an id, so the
 * JSON is seldom compared at all.
 */
const scriptBefore = (a: KeyedScript, b: KeyedScript): boolean => (a.id !== b.id ? a.id < b.id : a.json < b.json);

/** Whether an exclude list reaches into a script list (then scripts must stay plain objects). */
const touches = (paths: readonly string[][], key: string): boolean => paths.some((p) => p[0] === key && p.length > 1);

/** What a port fingerprint is computed over (exported for `plum parse --explain`-style debugging and tests). */
export function portFingerprintInput(doc: PortDocument, list: VolatileList, raw = false): Record<string, unknown> {
  const input: Record<string, unknown> = {
    protocol: doc.protocol,
    portid: doc.portid,
    state: doc.state,
    scripts: scriptsInput(doc.scripts, list, raw && !touches(list.exclude.port, 'scripts')),
  };
  if (doc.service) {
    const svc: Record<string, unknown> = { ...doc.service };
    if (typeof svc.servicefp === 'string') svc.servicefp = normalizeServiceFp(svc.servicefp, list);
    input.service = svc;
  }
  if (doc.owner !== undefined) input.owner = doc.owner;
  const drop = pathTree(list.exclude.port);
  return drop.size ? (without(input, drop) as Record<string, unknown>) : input;
}

export function portFingerprint(doc: PortDocument, list: VolatileList): string {
  return sha256(canonical(portFingerprintInput(doc, list, true)));
}

const addressBefore = (a: HostDocument['addresses'][number], b: HostDocument['addresses'][number]): boolean => a.addr < b.addr;
const hostnameBefore = (a: HostDocument['hostnames'][number], b: HostDocument['hostnames'][number]): boolean => `${a.type} ${a.name}` < `${b.type} ${b.name}`;

/**
 * What a host fingerprint is computed over. Ports enter through their own
 * fingerprints (computed once, in `portHashes`), so a host changes exactly when
 * one of its ports does, or when host-level data (names, addresses, OS, host
 * scripts) does.
 */
export function hostFingerprintInput(doc: HostDocument, list: VolatileList, portHashes?: readonly string[], raw = false): Record<string, unknown> {
  const hashes = portHashes ?? doc.ports.map((p) => portFingerprint(p, list));
  const ports = sortStrings(doc.ports.map((p, i) => `${p.protocol}/${p.portid} ${hashes[i]}`));
  const input: Record<string, unknown> = {
    addr: doc.addr,
    addresses: sortSmall(doc.addresses.slice(), addressBefore),
    hostnames: sortSmall(doc.hostnames.slice(), hostnameBefore),
    status: doc.status,
    ports,
    extraports: doc.extraports,
    hostscripts: scriptsInput(doc.hostscripts, list, raw && !touches(list.exclude.host, 'hostscripts')),
    extra: doc.extra,
  };
  if (doc.starttime !== undefined) input.starttime = doc.starttime;
  if (doc.endtime !== undefined) input.endtime = doc.endtime;
  if (doc.os) input.os = doc.os;
  if (doc.timedout !== undefined) input.timedout = doc.timedout;
  const drop = pathTree(list.exclude.host);
  return drop.size ? (without(input, drop) as Record<string, unknown>) : input;
}

export function hostFingerprint(doc: HostDocument, list: VolatileList, portHashes?: readonly string[]): string {
  return sha256(canonical(hostFingerprintInput(doc, list, portHashes, true)));
}
