import { SEARCH_FIELD_NAMES, type SearchFieldName } from '../fields.ts';

/**
 * The one typed field registry of the query language. Search (SQL) and the tag
 * rules (in-memory `matchFields`) both read it, so a field cannot mean one thing
 * in a rule and another in a search.
 *
 * Types say what a plain `field:value` means and which modifiers are allowed:
 * - `exact`: keyword values (hashes, protocol...): equality only.
 * - `prefix`: equality, and `.bg`/`.begin` (prefix).
 * - `substring`: equality, `.bg` and `.lk`/`.like` (substring). Free text and names.
 * - `cidr`: an address or CIDR; `ip:` also accepts `.bg`/`.lk` on the address text.
 * - `integer`: equality lists and comparisons (`port:80,443`, `score>=60`).
 * - `date`: comparisons with dates (`last_seen>=2024-01-01`), `since:N` days, `before:`/`after:`.
 * Every string comparison is case-insensitive; `.not`/`.nt` negates any term.
 */
export type FieldType = 'exact' | 'prefix' | 'substring' | 'cidr' | 'integer' | 'date';
export type MatchMode = 'exact' | 'prefix' | 'substring';

/** Where a field's values come from in a port document. */
export type FieldSource =
  | { kind: 'fields'; name: SearchFieldName }
  | { kind: 'tags' }
  | { kind: 'score' }
  | { kind: 'first_seen' }
  | { kind: 'last_seen' }
  /** `since:N` (last_seen within N days), `after:D` (last_seen >= D), `before:D` (first_seen < D). */
  | { kind: 'since' }
  | { kind: 'after' }
  | { kind: 'before' };

export interface FieldSpec {
  name: string;
  type: FieldType;
  /** Match modes accepted for string comparisons (always includes 'exact' for string types). */
  modes: readonly MatchMode[];
  source: FieldSource;
  description: string;
}

const ALL: readonly MatchMode[] = ['exact', 'prefix', 'substring'];

const EXACT_FIELDS = new Set<SearchFieldName>(['protocol', 'state', 'http_favicon_mmhash', 'x509_key_type', 'tls_protocol']);
/** Hashes take a prefix (a hash pasted in part); names of things take one too. */
const PREFIX_FIELDS = new Set<SearchFieldName>([
  'cpe',
  'script',
  'http_header',
  'http_favicon_md5',
  'http_favicon_sha256',
  'x509_md5',
  'x509_sha1',
  'x509_sha256',
  'tls_weak',
]);

const DESCRIPTIONS: Partial<Record<SearchFieldName, string>> = {
  ip: 'address of the port (an IP, or a CIDR to match inside it)',
  port: 'port number; lists and comparisons (port:80,443, port>=1024)',
  fqdn: 'any full name tied to the port (hostnames, HTTP names, certificate names)',
  host: 'sub-domain part of those names',
  domain: 'registrable domain of those names',
  fqdn_requested: 'names nmap was given',
  domain_requested: 'registrable domains of the names nmap was given',
  http_header: 'an HTTP response header name',
  http_headval: 'http_headval:<header>[.lk|.bg]:<value>, a header value',
  http_favicon_mmhash: 'Shodan-style murmur3 of the favicon (signed 32-bit)',
  banner: 'service banner',
  x509_sig_alg: 'certificate signature algorithm (sha256WithRSAEncryption)',
  tls_protocol: 'an enabled SSL/TLS protocol, TLS scanner (tls_protocol:TLSv1.0)',
  tls_cipher: 'an accepted cipher suite, OpenSSL name (tls_cipher.lk:CBC)',
  tls_group: 'a key exchange group the server accepts (x25519)',
  tls_weak: 'a TLS weakness: protocol:<name>, cipher:<name>, dh:<bits>, heartbleed, renegotiation:insecure, compression, signature:<alg>',
};

function fieldSpec(name: SearchFieldName): FieldSpec {
  if (name === 'ip') return { name, type: 'cidr', modes: ALL, source: { kind: 'fields', name }, description: DESCRIPTIONS.ip! };
  if (name === 'port') return { name, type: 'integer', modes: ['exact'], source: { kind: 'fields', name }, description: DESCRIPTIONS.port! };
  if (name === 'x509_key_bits') {
    return { name, type: 'integer', modes: ['exact'], source: { kind: 'fields', name }, description: 'certificate key size in bits' };
  }
  const type: FieldType = EXACT_FIELDS.has(name) ? 'exact' : PREFIX_FIELDS.has(name) ? 'prefix' : 'substring';
  const modes: readonly MatchMode[] = type === 'exact' ? ['exact'] : type === 'prefix' ? ['exact', 'prefix'] : ALL;
  return { name, type, modes, source: { kind: 'fields', name }, description: DESCRIPTIONS[name] ?? name.replace(/_/g, ' ') };
}

const EXTRA: FieldSpec[] = [
  { name: 'net', type: 'cidr', modes: ['exact'], source: { kind: 'fields', name: 'ip' }, description: 'address inside a CIDR (net:10.0.0.0/8)' },
  { name: 'tag', type: 'substring', modes: ALL, source: { kind: 'tags' }, description: 'a tag set by the rules (tag:vendor:cisco, tag.bg:vuln:)' },
  { name: 'score', type: 'integer', modes: ['exact'], source: { kind: 'score' }, description: 'exposure score 0..100 (score>=60)' },
  { name: 'first_seen', type: 'date', modes: ['exact'], source: { kind: 'first_seen' }, description: 'first time seen (first_seen>=2024-01-01)' },
  { name: 'last_seen', type: 'date', modes: ['exact'], source: { kind: 'last_seen' }, description: 'last time seen (last_seen<2024-06-01)' },
  { name: 'since', type: 'date', modes: ['exact'], source: { kind: 'since' }, description: 'seen in the last N days (since:7; also 12h, 2w)' },
  { name: 'after', type: 'date', modes: ['exact'], source: { kind: 'after' }, description: 'seen on or after a date (last_seen >= D)' },
  { name: 'before', type: 'date', modes: ['exact'], source: { kind: 'before' }, description: 'seen before a date (first_seen < D)' },
];

export const FIELD_REGISTRY: ReadonlyMap<string, FieldSpec> = new Map([...SEARCH_FIELD_NAMES.map(fieldSpec), ...EXTRA].map((s) => [s.name, s] as const));

export const FIELD_NAMES: readonly string[] = [...FIELD_REGISTRY.keys()].sort();

export function getField(name: string): FieldSpec | undefined {
  return FIELD_REGISTRY.get(name.toLowerCase());
}

/** Fields whose values depend on time: a query using them searches history, not only current observations. */
export const TIME_FIELDS: ReadonlySet<string> = new Set(['first_seen', 'last_seen', 'since', 'after', 'before']);
