import type { VolatileList } from './volatile.ts';

/*
 * Normalisation by the volatile list (volatile.ts loads and compiles it): pure
 * functions, same text + same list → same result. They only ever touch the
 * copy that is hashed, never the stored document.
 */

// ---------------------------------------------------------------------------
// Pure normalisation

export const MARK = {
  volatile: '[VOLATILE]',
  cookie: '[COOKIE]',
  date: '[DATE]',
} as const;

/*
 * A "Name: value" line, at the start of a real line or after a line break
 * that nmap escaped in banners and service fingerprints (\x0d\x0a, \0d\0a, \r\n).
 */
const ESC_EOL = String.raw`\\x0d|\\x0a|\\0d|\\0a|\\r|\\n`;
const HEADER_LINE_RE = new RegExp(String.raw`(^|(?<=\\x0a|\\0a|\\n))([ \t]*)([A-Za-z][A-Za-z0-9_.-]*)([ \t]*:[ \t]*)((?:(?!${ESC_EOL})[^\r\n])*)`, 'gm');

/*
 * Whether the list names a header as volatile, remembered per header name: the same few names recur in
 * every HTTP response, and testing each against every header pattern (`(x-)?.*request-?id`, …) was most
 * of the time spent on http-headers outputs. Bounded, since names come from the scanned servers.
 */
const listedVerdicts = new WeakMap<VolatileList, Map<string, boolean>>();
const MAX_REMEMBERED_NAMES = 10_000;

function listedVolatile(lname: string, list: VolatileList): boolean {
  let verdicts = listedVerdicts.get(list);
  if (!verdicts) listedVerdicts.set(list, (verdicts = new Map()));
  let v = verdicts.get(lname);
  if (v === undefined) {
    v = list.headers.has(lname) || list.headerPatterns.some((re) => re.test(lname));
    if (verdicts.size < MAX_REMEMBERED_NAMES) verdicts.set(lname, v);
  }
  return v;
}

function isVolatileHeader(lname: string, list: VolatileList, extra?: ReadonlySet<string>): boolean {
  return listedVolatile(lname, list) || extra?.has(lname) === true;
}

/** `name=value; Path=/; Expires=…; Max-Age=…` → `name=[COOKIE]; Path=/; Expires=[DATE]; Max-Age=[VOLATILE]`. */
export function normalizeCookie(value: string): string {
  const parts = value.split(';');
  return parts
    .map((part, i) => {
      const eq = part.indexOf('=');
      if (eq < 0) return part;
      const name = part.slice(0, eq);
      const lname = name.trim().toLowerCase();
      if (i === 0) return `${name}=${MARK.cookie}`;
      if (lname === 'expires') return `${name}=${MARK.date}`;
      if (lname === 'max-age') return `${name}=${MARK.volatile}`;
      return part;
    })
    .join(';');
}

/**
 * Replaces volatile values in one text (header lines, cookies, then the text
 * patterns). `extraKeys` are script-specific keys whose "key: value" lines are volatile.
 */
export function normalizeText(text: string, list: VolatileList, extraKeys?: ReadonlySet<string>): string {
  if (text === '') return text;
  let out = text;
  const kept: string[] = [];
  if (out.includes(':')) {
    out = out.replace(HEADER_LINE_RE, (all, start: string, indent: string, name: string, sep: string, value: string) => {
      if (value === '') return all;
      const lname = name.toLowerCase();
      if (list.keepHeaders.has(lname)) {
        // Shield the value from the patterns below; restored afterwards.
        kept.push(value);
        return `${start}${indent}${name}${sep}\u0000${kept.length - 1}\u0000`;
      }
      if (list.cookies && (lname === 'set-cookie' || lname === 'set-cookie2')) return `${start}${indent}${name}${sep}${normalizeCookie(value)}`;
      if (isVolatileHeader(lname, list, extraKeys)) return `${start}${indent}${name}${sep}${MARK.volatile}`;
      return all;
    });
  }
  if (list.anyPattern === undefined || list.anyPattern.test(out)) {
    for (const p of list.patterns) {
      p.re.lastIndex = 0;
      out = out.replace(p.re, p.marker);
    }
  }
  if (kept.length) out = out.replace(/\u0000(\d+)\u0000/g, (_m, i: string) => kept[Number(i)] ?? '');
  return out;
}

/** Normalises every string of a script's data (not `id`). Returns a new value. */
export function normalizeScriptValue(value: unknown, list: VolatileList, keys: ReadonlySet<string> | undefined, key?: string): unknown {
  if (typeof value === 'string') {
    if (key !== undefined && keys?.has(key.toLowerCase())) return MARK.volatile;
    return normalizeText(value, list, keys);
  }
  if (Array.isArray(value)) return value.map((v) => normalizeScriptValue(v, list, keys));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    const obj = value as Record<string, unknown>;
    for (const k of Object.keys(obj)) out[k] = normalizeScriptValue(obj[k], list, keys, k);
    return out;
  }
  return value;
}

/** stock banner.nse truncates according to nmap's verbosity; this prefix is the same at every verbosity. */
export const BANNER_STABLE_PREFIX = 60;

/**
 * The part of a stock `banner` output that does not depend on verbosity:
 * nmap wraps it with literal newlines (real ones are escaped as \x0A) and cuts
 * it at 63 or 135 characters with "...".
 */
export function stableBanner(output: string): string {
  return output
    .replace(/\n/g, '')
    .replace(/\.\.\.$/, '')
    .slice(0, BANNER_STABLE_PREFIX);
}

/** A script as it enters the fingerprint: volatile values replaced by markers. */
export function normalizeScript(script: { id: string; output: string; [k: string]: unknown }, list: VolatileList): Record<string, unknown> {
  const rule = list.scripts.get(script.id);
  if (rule === '*') return { id: script.id, output: MARK.volatile };
  const out = normalizeScriptValue(script, list, rule) as Record<string, unknown>;
  out.id = script.id;
  if (script.id === 'banner' && typeof out.output === 'string') {
    out.output = stableBanner(out.output);
  }
  return out;
}

/** nmap's service fingerprint: drop its clock fields, then normalise the probe responses like a banner. */
export function normalizeServiceFp(fp: string, list: VolatileList): string {
  // nmap wraps the fingerprint in "SF:" lines at a fixed width, which can split a header: join first.
  const joined = fp.replace(/\r?\nSF:/g, '');
  const stripped = joined.replace(/%D=[\d/]+%Time=[0-9A-Fa-f]+/g, '%D=[DATE]%Time=[DATE]');
  const unescaped = stripped.replace(/\\x20/g, ' ');
  return normalizeText(unescaped, list);
}
