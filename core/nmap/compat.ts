import { createHash } from 'node:crypto';
import type { PlumError } from '../errors.ts';
import { HostReader, iterateHostNodes, newRunState, type FxNode } from './parse.ts';

/*
 * Compatibility with the predecessor's nmap2json (version acab4f2): the same
 * host documents and the same hsh256 values, byte for byte, so existing data
 * can be compared and migrated. This reproduces upstream behaviour on purpose,
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
  return `{${Object.entries(v).map(([k, x]) => `${pyString(k)}: ${pyJsonDumps(x)}`).join(', ')}}`;
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
        return dicts.map((x, i) => ({ x, i })).sort((a, b) => pyCmp(String(a.x.id), String(b.x.id)) || a.i - b.i).map((e) => e.x);
      }
      // Already key-sorted, so json.dumps(d, sort_keys=True) == pyJsonDumps(d).
      return dicts.map((x, i) => ({ x, k: pyJsonDumps(x), i })).sort((a, b) => pyCmp(a.k, b.k) || a.i - b.i).map((e) => e.x);
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
          const direct = kids(s, 'elem').filter((x) => x.$?.key === undefined).map(etText);
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
// smarthash (acab4f2)

const HEADERS_TOCLEAN = [
  'CF-Ray', 'content-security-policy-report-only', 'ETag', 'request-id', 'Via', 'www-authenticate', 'X-Amz-Cf-Id',
  'x-amz-id-2', 'x-amz-request-id', 'x-gitlab-meta', 'x-iplb-instance', 'x-iplb-request-id', 'x-ntap-sg-trace-id',
  'x-request-id', 'x-runtime', 'X-GitHub-Request-Id', 'X-Fastly-Request-ID',
];
const SMART_HASH_SCRIPTS = ['http-headers', 'http-security-headers'];

const reEscape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
/** Python `^` under re.MULTILINE: start of text or after "\n" only. */
const PY_BOL = '(?:(?<![\\s\\S])|(?<=\\n))';
/** Python `$` without MULTILINE: end of text, or before a final "\n". */
const PY_EOS = '(?=\\n?(?![\\s\\S]))';

const maskSameLength = (m: string) => Array.from(m, (c) => (c !== ' ' ? 'X' : ' ')).join('');
const DATE_RE = /(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2}[- ](?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[- ]\d{4} \d{2}:\d{2}:\d{2} [A-Z]{2,4}/g;
const UID_RE = /(?:[a-f0-9]{8}-(?:[a-f0-9]{4}-){3}[a-f0-9]{12})/g;
const NONCE_RE = /nonce[-=]"?([a-zA-Z0-9_\-+]+)/g;
const CORR_RE = /(correlation_id"[:]"([a-zA-Z0-9_\-+]+))/g;
const COOKIE_RE = new RegExp(`(Set-Cookie:\\s*[^=]+)=([^;]+)(;[^\\n]*|${PY_EOS})`, 'gi');
const HEADER_RES = HEADERS_TOCLEAN.map((h) => ({
  lower: h.toLowerCase(),
  present: new RegExp(`${PY_BOL}\\s*${reEscape(h)}\\s*:`, 'i'),
  value: new RegExp(`(${PY_BOL}\\s*${reEscape(h)}\\s*:\\s*)([^\\n]+)`, 'gi'),
}));

function anonymiseHeaders(text: string): string {
  let t = text;
  for (const h of HEADER_RES) {
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

function cleanOutput(out: string): string {
  let t = out.replace(DATE_RE, maskSameLength).replace(UID_RE, maskSameLength);
  t = t.replace(COOKIE_RE, (_all, key: string, _value: string, suffix: string | undefined) => `${key}=[REDACTED]${suffix ?? ''}`);
  return anonymiseHeaders(t);
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

function masterClean(r: PyDict): PyDict {
  for (const port of (r.ports as PyDict[] | undefined) ?? []) {
    const scripts = port.scripts as PyDict[] | undefined;
    if (!scripts?.length) continue;
    for (const item of scripts) {
      if (SMART_HASH_SCRIPTS.includes(item.id as string) && typeof item.output === 'string') item.output = cleanOutput(item.output);
    }
  }
  return r;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** Upstream port_smart_hash. */
export function compatPortHash(port: PyDict): string {
  const filtered = masterClean(filterKeys({ ports: [port] }, new Set(['hsh256'])) as PyDict);
  return sha256(pyJsonDumps((filtered.ports as Py[])[0]!));
}

/** Upstream headers_smart_hash(host, exclude_keys=[starttime, endtime, hsh256]). */
export function compatHostHash(host: PyDict): string {
  const filtered = masterClean(filterKeys(host, new Set(['starttime', 'endtime', 'hsh256'])) as PyDict);
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
export function nmap2jsonHost(host: FxNode, opts: { openOnly?: boolean } = {}): CompatHost | null {
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
    const hash = compatPortHash(p);
    const out: PyDict = {};
    for (const [k, v] of Object.entries(p)) {
      out[k] = v;
      if (k === 'portid') out.hsh256 = hash;
    }
    if (!('hsh256' in out)) out.hsh256 = hash;
    return out;
  });
  data.hsh256 = compatHostHash(data);
  return { doc: data, json: pyJsonDumps(data), hsh256: data.hsh256, hostReply };
}

/**
 * Streams upstream documents from nmap XML (bounded memory, like parseNmapStream).
 * Hostile input throws; truncation/invalid XML after some hosts is reported via `onError`.
 */
export async function* nmap2jsonStream(
  input: Parameters<typeof iterateHostNodes>[0],
  opts: { openOnly?: boolean; onError: (e: PlumError) => void },
): AsyncGenerator<CompatHost> {
  const reader = new HostReader(newRunState(), opts.onError);
  for await (const node of iterateHostNodes(input, reader)) {
    const h = nmap2jsonHost(node, opts);
    if (h) yield h;
  }
}
