import type { SearchFields, SearchFieldName } from '../fields.ts';
import { normalizeText } from '../nmap/normalize.ts';
import type { VolatileList } from '../nmap/volatile.ts';

/*
 * What a `changed` event changed: the extracted fields and script outputs that differ between the
 * previous fingerprint of the view and the new one. Pure. Values are compared after the volatile list's
 * normalisation (the one the fingerprint uses), so a value that differs only where it is volatile (a date,
 * a session id in a banner) is never listed; the values listed are the stored ones.
 */

/** One difference: a search field (core/fields.ts), its values before and after (sorted, distinct). */
export interface FieldDiff {
  field: SearchFieldName;
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
