import { createHash } from 'node:crypto';
import type { PlumError } from '../errors.ts';
import { HostReader, iterateHostNodes, type FxNode } from './parse.ts';
import { newRunState } from './run-info.ts';

/*
 * Compatibility with the predecessor's nmap2json: the same host documents and
 * the same hsh256 values, byte for byte, so existing data can be compared and
 * migrated. Its releases differ in how they mask volatile values before
 * hashing (`Nmap2jsonRelease`); the documents are the same. This reproduces upstream behaviour on purpose,
 * including its known defects (dropped CPEs/OS/host scripts, keyless tables
 * overwriting each other, same-length masks); Plum's own documents and
 * fingerprint (parse.ts, fingerprint.ts) do not have them.
 *
 * Python semantics reproduced: ElementTree (empty element text is None →
 * null), dict insertion order, sorted() on str keys, json.dumps defaults
 * (", " and ": " separators, ensure_ascii), and `re` behaviour of the masking
 * regexes (`^`/`$`/`.` written out explicitly where JavaScript differs).
 */

type Py = string | number | boolean | null | Py[] | { [k: string]: Py };
type PyDict = { [k: string]: Py };

// ---------------------------------------------------------------------------
// json.dumps (Python defaults)

function pyString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else if (c >= 0x20 && c <= 0x7e) out += s[i];
    // Everything else as \uXXXX of its UTF-16 units (Python writes surrogate pairs the same way).
    else out += `\\u${c.toString(16).padStart(4, '0')}`;
  }
  return `${out}"`;
}

/** Python's `json.dumps(value)` with default arguments. */
export function pyJsonDumps(v: Py): string {
  if (v === null) return 'null';
  if (v === true) return 'true';
  if (v === false) return 'false';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return pyString(v);
  if (Array.isArray(v)) return `[${v.map(pyJsonDumps).join(', ')}]`;
  return `{${Object.entries(v)
    .map(([k, x]) => `${pyString(k)}: ${pyJsonDumps(x)}`)
    .join(', ')}}`;
}

// Python compares str by code point; for the ASCII-only keys used here UTF-16 order is the same.
const pyCmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const isDict = (v: Py): v is PyDict => v !== null && typeof v === 'object' && !Array.isArray(v);

function sortDict(d: Py): Py {
  if (isDict(d)) {
    const out: PyDict = {};
    for (const k of Object.keys(d).sort(pyCmp)) out[k] = sortDict(d[k]!);
    return out;
  }
  if (Array.isArray(d)) {
    const items = d.map(sortDict);
    if (items.every(isDict)) {
      const dicts = items as PyDict[];
      if (dicts.every((x) => 'id' in x)) {
        // sorted() is stable; the ids are strings.
        return dicts
          .map((x, i) => ({ x, i }))
          .sort((a, b) => pyCmp(String(a.x.id), String(b.x.id)) || a.i - b.i)
          .map((e) => e.x);
      }
      // Already key-sorted, so json.dumps(d, sort_keys=True) == pyJsonDumps(d).
      return dicts
        .map((x, i) => ({ x, k: pyJsonDumps(x), i }))
        .sort((a, b) => pyCmp(a.k, b.k) || a.i - b.i)
        .map((e) => e.x);
    }
    return items;
  }
  return d;
}

// ---------------------------------------------------------------------------
// ElementTree-like access on fast-xml-parser nodes

const kids = (n: FxNode | undefined, name: string): FxNode[] => (n?.[name] as FxNode[] | undefined) ?? [];
const attrib = (n: FxNode | undefined): PyDict => ({ ...(n?.$ ?? {}) });
/** ElementTree's `.text`: None for an empty element. */
const etText = (n: FxNode): string | null => {
  const t = n['#text'];
  return typeof t === 'string' && t !== '' ? t : null;
};

function parseTable(t: FxNode): Py {
  const withKey: PyDict = {};
  const withoutKey: Py[] = [];
  for (const e of kids(t, 'elem')) {
    const key = e.$?.key;
    if (key) withKey[key] = etText(e);
    else withoutKey.push(etText(e));
  }
  const subs = kids(t, 'table').map((s) => [s.$?.key, parseTable(s)] as const);
  if (Object.keys(withKey).length || subs.length) {
    const r: PyDict = { ...withKey };
    for (const [key, val] of subs) {
      if (key) r[key] = val;
      else ((r.__list__ ??= []) as Py[]).push(val);
    }
    if (withoutKey.length) r.__list__ = withoutKey;
    return r;
  }
  return withoutKey;
}

function portsOf(host: FxNode): PyDict[] {
  const out: PyDict[] = [];
  for (const ports of kids(host, 'ports')) {
    for (const p of kids(ports, 'port')) {
      const d = attrib(p);
      const st = kids(p, 'state')[0];
      const sv = kids(p, 'service')[0];
      const scripts = kids(p, 'script');
      if (st) d.state = attrib(st);
      if (sv) d.service = attrib(sv);
      if (scripts.length) {
        d.scripts = scripts.map((s) => {
          const e = attrib(s);
          for (const t of kids(s, 'table')) e[t.$?.key ?? 'unknown'] = parseTable(t);
          const direct = kids(s, 'elem')
            .filter((x) => x.$?.key === undefined)
            .map(etText);
          if (direct.length) e.elems = direct;
          for (const x of kids(s, 'elem')) if (x.$?.key) e[x.$.key] = etText(x);
          return e;
        });
      }
      out.push(d);
    }
  }
  return out;
}

function convertExtensions(o: Py): void {
  if (isDict(o)) {
    for (const [k, v] of Object.entries(o)) {
      if (k === 'extensions' && isDict(v) && '__list__' in v) {
        const ext: PyDict = {};
        for (const item of (v.__list__ as Py[]) ?? []) {
          const it = item as PyDict;
          const name = String(it.name);
          ext[name] = 'value' in it ? it.value! : '';
          if ('critical' in it) ext[`${name} critical`] = it.critical!;
        }
        o[k] = ext;
      } else convertExtensions(v);
    }
  } else if (Array.isArray(o)) o.forEach(convertExtensions);
}

// ---------------------------------------------------------------------------
// smarthash

/**
 * Which upstream release's masking to reproduce: `2610` is nmap2json 2610.1 (the release on the
 * Python package index today), `2605` is 2605.0 and earlier (revision acab4f2, whose golden
 * vectors are in test/fixtures/nmap). 2610 masks HTTP `Date:` headers and SMTP greeting dates
 * (also in banners) with `[DATE]` instead of same-length `X` runs over any RFC 1123 date, masks
 * dates in cookie expiries, and masks `Connection-Id`.
 */
export type Nmap2jsonRelease = '2610' | '2605';
export const NMAP2JSON_RELEASES: readonly Nmap2jsonRelease[] = ['2610', '2605'];

const HEADERS_TOCLEAN_2605 = [
  'CF-Ray',
  'content-security-policy-report-only',
  'ETag',
  'request-id',
  'Via',
  'www-authenticate',
  'X-Amz-Cf-Id',
  'x-amz-id-2',
  'x-amz-request-id',
  'x-gitlab-meta',
  'x-iplb-instance',
  'x-iplb-request-id',
  'x-ntap-sg-trace-id',
  'x-request-id',
  'x-runtime',
  'X-GitHub-Request-Id',
  'X-Fastly-Request-ID',
];
const HEADERS_TOCLEAN_2610 = ['CF-Ray', 'Connection-Id', ...HEADERS_TOCLEAN_2605.slice(1)];
const SMART_HASH_SCRIPTS = ['http-headers', 'http-security-headers'];

const reEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
/** Python `^` under re.MULTILINE: start of text or after "\n" only. */
const PY_BOL = '(?:(?<![\\s\\S])|(?<=\\n))';
/** Python `$` without MULTILINE: end of text, or before a final "\n". */
const PY_EOS = '(?=\\n?(?![\\s\\S]))';

const maskSameLength = (m: string) => Array.from(m, (c) => (c !== ' ' ? 'X' : ' ')).join('');
const DATE_RE_2605 = /(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2}[- ](?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[- ]\d{4} \d{2}:\d{2}:\d{2} [A-Z]{2,4}/g;
const UID_RE = /(?:[a-f0-9]{8}-(?:[a-f0-9]{4}-){3}[a-f0-9]{12})/g;
const NONCE_RE = /nonce[-=]"?([a-zA-Z0-9_\-+]+)/g;
const CORR_RE = /(correlation_id"[:]"([a-zA-Z0-9_\-+]+))/g;
const COOKIE_RE = new RegExp(`(Set-Cookie:\\s*[^=]+)=([^;]+)(;[^\\n]*|${PY_EOS})`, 'gi');
const headerRes = (names: string[]) =>
  names.map((h) => ({
    lower: h.toLowerCase(),
    present: new RegExp(`${PY_BOL}\\s*${reEscape(h)}\\s*:`, 'i'),
    value: new RegExp(`(${PY_BOL}\\s*${reEscape(h)}\\s*:\\s*)([^\\n]+)`, 'gi'),
  }));
const HEADER_RES = { '2605': headerRes(HEADERS_TOCLEAN_2605), '2610': headerRes(HEADERS_TOCLEAN_2610) } as const;

/*
 * 2610's dates, in Python `re` terms: `\d` and `\w` of a str pattern are Unicode (decimal digits;
 * letters, digits and `_`), and IGNORECASE folds like JavaScript's `iu`; `^` without MULTILINE is
 * the start of the text only.
 */
const PY_D = '\\p{Nd}';
const PY_W = '[\\p{L}\\p{N}_]';
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const DATE_2610 =
  `${DAY},[ \\t]+(?:${PY_D}{1,2}[- ]${MONTH}[- ]${PY_D}{4}|${MONTH}[ \\t]+${PY_D}{1,2}[ \\t]+${PY_D}{4})` +
  `[ \\t]+${PY_D}{2}:${PY_D}{2}:${PY_D}{2}[ \\t]+(?:[+-]${PY_D}{4}|[A-Z]{2,4})`;
const NOT_AFTER_DATE = `(?![\\p{L}\\p{N}_+-])`;
const PY_WORD_START = `(?:(?<!${PY_W})(?=${PY_W}))`;
const DATE_RE_2610 = new RegExp(`${PY_WORD_START}${DATE_2610}${NOT_AFTER_DATE}`, 'giu');
const LINE_START = '(?:^|[\\r\\n]|\\\\(?:x)?0[ad]|\\\\[rn])';
const HEADER_DATE_RE = new RegExp(`(${LINE_START}[ \\t]*Date:[ \\t]*)(${DATE_2610})${NOT_AFTER_DATE}`, 'giu');
const SMTP_DATE_RE = new RegExp(`(${LINE_START}220[^\\r\\n]*?;[ \\t]*)(${DATE_2610})${NOT_AFTER_DATE}`, 'giu');
const COOKIE_EXPIRY_RE = new RegExp(`(${PY_WORD_START}expires=)([^;\\r\\n]*)`, 'giu');

/** 2610's volatile_dates: protocol clocks (HTTP Date headers, SMTP greetings), not certificate dates. */
function volatileDates(text: string): string {
  return text.replace(HEADER_DATE_RE, (_all, lead: string) => `${lead}[DATE]`).replace(SMTP_DATE_RE, (_all, lead: string) => `${lead}[DATE]`);
}

function anonymiseHeaders(text: string, release: Nmap2jsonRelease): string {
  let t = text;
  for (const h of HEADER_RES[release]) {
    if (h.present.test(t)) {
      if (h.lower.startsWith('content-security-policy') || h.lower.startsWith('www-authenticate')) {
        t = t.replace(NONCE_RE, maskSameLength);
        continue;
      } else if (h.lower.startsWith('x-gitlab-meta')) {
        t = t.replace(CORR_RE, maskSameLength);
        continue;
      }
    }
    t = t.replace(h.value, (_all, g1: string, g2: string) => g1 + 'X'.repeat(Array.from(g2).length));
  }
  return t;
}

const anonymiseCookies = (t: string) =>
  t.replace(COOKIE_RE, (_all, key: string, _value: string, suffix: string | undefined) => `${key}=[REDACTED]${suffix ?? ''}`);

function cleanOutput(out: string, release: Nmap2jsonRelease): string {
  if (release === '2605') return anonymiseHeaders(anonymiseCookies(out.replace(DATE_RE_2605, maskSameLength).replace(UID_RE, maskSameLength)), release);
  const cleaned = anonymiseHeaders(anonymiseCookies(volatileDates(out).replace(UID_RE, maskSameLength)), release);
  return cleaned.replace(COOKIE_EXPIRY_RE, (_all, key: string, value: string) => key + value.replace(DATE_RE_2610, '[DATE]'));
}

function filterKeys(o: Py, exclude: ReadonlySet<string>): Py {
  if (isDict(o)) {
    const out: PyDict = {};
    for (const [k, v] of Object.entries(o)) if (!exclude.has(k)) out[k] = filterKeys(v, exclude);
    return out;
  }
  if (Array.isArray(o)) return o.map((x) => filterKeys(x, exclude));
  return o;
}

function masterClean(r: PyDict, release: Nmap2jsonRelease): PyDict {
  for (const port of (r.ports as PyDict[] | undefined) ?? []) {
    const scripts = port.scripts as PyDict[] | undefined;
    if (!scripts?.length) continue;
    for (const item of scripts) {
      if (typeof item.output !== 'string') continue;
      if (SMART_HASH_SCRIPTS.includes(item.id as string)) item.output = cleanOutput(item.output, release);
      else if (release === '2610' && item.id === 'banner') item.output = volatileDates(item.output);
    }
  }
  return r;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** Upstream port_smart_hash. */
export function compatPortHash(port: PyDict, release: Nmap2jsonRelease = '2610'): string {
  const filtered = masterClean(filterKeys({ ports: [port] }, new Set(['hsh256'])) as PyDict, release);
  return sha256(pyJsonDumps((filtered.ports as Py[])[0]!));
}

/** Upstream headers_smart_hash(host, exclude_keys=[starttime, endtime, hsh256]). */
export function compatHostHash(host: PyDict, release: Nmap2jsonRelease = '2610'): string {
  const filtered = masterClean(filterKeys(host, new Set(['starttime', 'endtime', 'hsh256'])) as PyDict, release);
  return sha256(pyJsonDumps(filtered));
}

// ---------------------------------------------------------------------------

export interface CompatHost {
  doc: PyDict;
  /** JSON text exactly as Python's json.dumps writes it. */
  json: string;
  hsh256: string;
  hostReply: boolean;
}

/**
 * One <host> as upstream nmap2json documents it. `openOnly` = the agents'
 * mode (wipe_notopen + wipe_deadhost): returns null for a host without open ports.
 */
export function nmap2jsonHost(host: FxNode, opts: { openOnly?: boolean; release?: Nmap2jsonRelease } = {}): CompatHost | null {
  const release = opts.release ?? '2610';
  const h = host.$ ?? {};
  let data: PyDict = {
    addr: null,
    hsh256: null,
    starttime: h.starttime ?? null,
    endtime: h.endtime ?? null,
    status: {},
    hostnames: [],
    ports: [],
  };
  const status = kids(host, 'status')[0];
  if (status) data.status = attrib(status);
  const addr = kids(host, 'address')[0];
  if (addr) data.addr = addr.$?.addr ?? null;
  for (const hn of kids(host, 'hostnames')) for (const n of kids(hn, 'hostname')) (data.hostnames as Py[]).push(attrib(n));
  data.ports = portsOf(host);
  convertExtensions(data);
  const isOpen = (p: Py) => ((p as PyDict).state as PyDict | undefined)?.state === 'open';
  const hostReply = (data.ports as Py[]).some(isOpen);
  data.host_reply = hostReply;
  if (opts.openOnly) {
    data = { ...data, ports: (data.ports as Py[]).filter(isOpen) };
    if (!hostReply) return null;
  }
  data = sortDict(data) as PyDict;
  // Each port carries its own fingerprint, right after portid (as upstream stores it).
  data.ports = (data.ports as PyDict[]).map((p) => {
    const hash = compatPortHash(p, release);
    const out: PyDict = {};
    for (const [k, v] of Object.entries(p)) {
      out[k] = v;
      if (k === 'portid') out.hsh256 = hash;
    }
    if (!('hsh256' in out)) out.hsh256 = hash;
    return out;
  });
  data.hsh256 = compatHostHash(data, release);
  return { doc: data, json: pyJsonDumps(data), hsh256: data.hsh256, hostReply };
}

/**
 * Streams upstream documents from nmap XML (bounded memory, like parseNmapStream).
 * Hostile input throws; truncation/invalid XML after some hosts is reported via `onError`.
 */
export async function* nmap2jsonStream(
  input: Parameters<typeof iterateHostNodes>[0],
  opts: { openOnly?: boolean; release?: Nmap2jsonRelease; onError: (e: PlumError) => void },
): AsyncGenerator<CompatHost> {
  const reader = new HostReader(newRunState(), opts.onError);
  for await (const node of iterateHostNodes(input, reader)) {
    const h = nmap2jsonHost(node, opts);
    if (h) yield h;
  }
}
