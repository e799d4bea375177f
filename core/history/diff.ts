import type { SearchFields, SearchFieldName } from '../fields.ts';
import { normalizeScript, normalizeText } from '../nmap/normalize.ts';
import type { VolatileList } from '../nmap/volatile.ts';

/*
 * What a `changed` event changed: the extracted fields and script outputs that differ between the
 * previous fingerprint of the view and the new one. Pure. Values are compared after the volatile list's
 * normalisation (the one the fingerprint uses), so a value that differs only where it is volatile (a date,
 * a session id in a banner) is never listed; the values listed are the stored ones.
 */

/**
 * One difference: a search field (core/fields.ts), its values before and after (sorted, distinct); or
 * `script:<id>`, the output of an NSE script no field extracts (diffScripts).
 */
export interface FieldDiff {
  field: SearchFieldName | `script:${string}`;
  old: string[];
  new: string[];
}

/**
 * The fields a change is described by, in display order: what a person reads to see what changed. Left out:
 * derived names (fqdn, domain…: they follow the certificate and HTTP fields), and fields whose values move on an
 * unchanged service (etag, header values, favicon paths).
 */
export const DIFF_FIELDS: readonly SearchFieldName[] = [
  'service_name',
  'service_product',
  'service_version',
  'service_extrainfo',
  'cpe',
  'http_title',
  'http_server',
  'http_cookiename',
  'http_favicon_mmhash',
  'x509_subject_cn',
  'x509_san',
  'x509_issuer_cn',
  'x509_sha256',
  'x509_not_before',
  'x509_not_after',
  'x509_key_type',
  'x509_key_bits',
  'x509_sig_alg',
  'tls_protocol',
  'tls_cipher',
  'tls_group',
  'tls_weak',
  'banner',
  'script',
];

/** How reports name each field. */
export const DIFF_LABELS: Readonly<Record<string, string>> = {
  service_name: 'service',
  service_product: 'product',
  service_version: 'version',
  service_extrainfo: 'service details',
  cpe: 'CPE',
  http_title: 'title',
  http_server: 'server',
  http_cookiename: 'cookies',
  http_favicon_mmhash: 'favicon hash',
  x509_subject_cn: 'certificate subject',
  x509_san: 'certificate names',
  x509_issuer_cn: 'certificate issuer',
  x509_sha256: 'certificate SHA-256',
  x509_not_before: 'certificate start',
  x509_not_after: 'certificate expiry',
  x509_key_type: 'key type',
  x509_key_bits: 'key size',
  x509_sig_alg: 'certificate signature',
  tls_protocol: 'TLS protocols',
  tls_cipher: 'TLS ciphers',
  tls_group: 'TLS key exchange groups',
  tls_weak: 'TLS weaknesses',
  banner: 'banner',
  script: 'scripts with output',
};

/**
 * Long lists where a reader wants what came and went, not two dozen values twice: their diff keeps only the
 * values removed (`old`) and added (`new`).
 */
export const SET_DIFF_FIELDS: ReadonlySet<SearchFieldName> = new Set(['tls_cipher', 'tls_group']);

const distinctSorted = (values: readonly string[] | undefined) => [...new Set(values ?? [])].sort();
const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/** The differences between two ports' fields, volatile values aside. */
export function diffFields(previous: Partial<SearchFields>, next: Partial<SearchFields>, volatile: VolatileList): FieldDiff[] {
  const out: FieldDiff[] = [];
  const norm = (values: string[]) => distinctSorted(values.map((v) => normalizeText(v, volatile)));
  for (const field of DIFF_FIELDS) {
    const old = distinctSorted(previous[field]);
    const now = distinctSorted(next[field]);
    if (same(old, now) || same(norm(old), norm(now))) continue;
    if (SET_DIFF_FIELDS.has(field)) out.push({ field, old: old.filter((v) => !now.includes(v)), new: now.filter((v) => !old.includes(v)) });
    else out.push({ field, old, new: now });
  }
  return out;
}

/** What diffScripts reads of a port document's scripts. */
export interface ScriptOutput {
  id: string;
  output: string;
}

/** The scripts' outputs of a stored or parsed port document (core/nmap/types.ts PortDocument); none if it has none. */
export function scriptOutputs(doc: unknown): ScriptOutput[] {
  const scripts = (doc as { scripts?: unknown } | null | undefined)?.scripts;
  if (!Array.isArray(scripts)) return [];
  return scripts.filter((x): x is ScriptOutput => typeof x?.id === 'string' && typeof x?.output === 'string').map((x) => ({ id: x.id, output: x.output }));
}

/**
 * Longest output shown on each side of a script's diff. A script's output can run to many kilobytes (ssh-hostkey
 * with several keys, a page of http-headers, a custom script's dump) and would be stored with the event, sent to
 * webhooks and shown in reports twice.
 */
export const SCRIPT_DIFF_MAX_CHARS = 400;
/** Unchanged text kept before the first difference when an output is cut, so the reader sees where it is. */
const SCRIPT_DIFF_CONTEXT = 80;

/**
 * Cuts the two outputs of a changed script to SCRIPT_DIFF_MAX_CHARS each, around where they first differ: a
 * window that starts SCRIPT_DIFF_CONTEXT characters before the first difference (a long common beginning, most
 * of a long output, says nothing), marked with "…" where text was left out on either side.
 */
function cutAroundDifference(old: string, now: string): [string, string] {
  if (old.length <= SCRIPT_DIFF_MAX_CHARS && now.length <= SCRIPT_DIFF_MAX_CHARS) return [old, now];
  let same = 0;
  while (same < old.length && same < now.length && old[same] === now[same]) same++;
  const start = Math.max(0, same - SCRIPT_DIFF_CONTEXT);
  const cut = (text: string) => {
    if (text.length <= SCRIPT_DIFF_MAX_CHARS) return text;
    const from = Math.min(start, Math.max(0, text.length - SCRIPT_DIFF_MAX_CHARS));
    const to = from + SCRIPT_DIFF_MAX_CHARS;
    return `${from > 0 ? '…' : ''}${text.slice(from, to)}${to < text.length ? '…' : ''}`;
  };
  return [cut(old), cut(now)];
}

/**
 * The scripts whose output differs between two ports, volatile values aside (the normalisation the fingerprint
 * gives each script, core/nmap/normalize.ts normalizeScript: a script the volatile list marks wholly volatile never
 * differs), as `script:<id>` with the stored outputs (cut: cutAroundDifference). A script on one side only
 * has no values on the other. For a change no listed field describes (ssh-hostkey, a custom script): ingest
 * calls it only when diffFields found nothing.
 */
export function diffScripts(previous: readonly ScriptOutput[], next: readonly ScriptOutput[], volatile: VolatileList): FieldDiff[] {
  const byId = (list: readonly ScriptOutput[]) => {
    const out = new Map<string, string[]>();
    for (const s of list) out.set(s.id, [...(out.get(s.id) ?? []), s.output]);
    return out;
  };
  const before = byId(previous);
  const after = byId(next);
  const normal = (id: string, outputs: string[]) => outputs.map((output) => String(normalizeScript({ id, output }, volatile).output)).sort();
  const out: FieldDiff[] = [];
  for (const id of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const old = before.get(id) ?? [];
    const now = after.get(id) ?? [];
    if (same(normal(id, old), normal(id, now))) continue;
    if (old.length === 1 && now.length === 1) {
      const [o, n] = cutAroundDifference(old[0]!, now[0]!);
      out.push({ field: `script:${id}`, old: [o], new: [n] });
    } else {
      const cut = (v: string) => cutAroundDifference(v, '')[0];
      out.push({ field: `script:${id}`, old: old.map(cut), new: now.map(cut) });
    }
  }
  return out;
}

/** How reports name a diff's field: its label, or "script <id>" for a script's output. */
export function diffLabel(field: string): string {
  return DIFF_LABELS[field] ?? (field.startsWith('script:') ? `script ${field.slice('script:'.length)}` : field);
}
