/**
 * The extracted search fields of one port document: the contract between the
 * parser (which fills them), the store (which indexes them), the query language
 * (which searches them) and the rules (which evaluate them). Names follow the
 * predecessor's search fields.
 *
 * Every field is a list of strings, even when it usually holds one value, so
 * that search, rules and indexes treat all fields alike. Values keep their
 * original case; matching lowercases both sides. Missing data = empty list.
 */
export interface SearchFields {
  ip: string[];
  port: string[];
  protocol: string[];
  state: string[];
  service_name: string[];
  service_product: string[];
  service_version: string[];
  service_extrainfo: string[];
  cpe: string[];
  /** Every full name tied to the port: hostnames, HTTP Host/Location names, certificate CN and SANs. */
  fqdn: string[];
  /** Sub-domain parts of those names (the part left of the registrable domain). */
  host: string[];
  /** Registrable domains (Public Suffix List). */
  domain: string[];
  tld: string[];
  /** Names nmap was given (hostname type="user"). */
  fqdn_requested: string[];
  domain_requested: string[];
  /** PTR names. */
  ptr: string[];
  http_title: string[];
  http_server: string[];
  http_cookiename: string[];
  http_etag: string[];
  /** Header names, lowercased. */
  http_header: string[];
  /** `name: value` pairs, name lowercased, value as sent. */
  http_headval: string[];
  http_favicon_path: string[];
  /** Shodan-compatible signed 32-bit murmur3, as a decimal string. */
  http_favicon_mmhash: string[];
  http_favicon_md5: string[];
  http_favicon_sha256: string[];
  x509_subject: string[];
  x509_subject_cn: string[];
  x509_issuer: string[];
  x509_issuer_cn: string[];
  x509_san: string[];
  x509_md5: string[];
  x509_sha1: string[];
  x509_sha256: string[];
  /** ISO-8601 validity bounds. */
  x509_not_before: string[];
  x509_not_after: string[];
  x509_key_type: string[];
  x509_key_bits: string[];
  /** Signature algorithm of the certificate (sha256WithRSAEncryption). */
  x509_sig_alg: string[];
  /** Enabled SSL/TLS protocols (SSLv2 … TLSv1.3), from the TLS scanner (sslscan). */
  tls_protocol: string[];
  /** Accepted cipher suites, OpenSSL's names. */
  tls_cipher: string[];
  /** Key exchange groups the server accepts (x25519, secp256r1 …). */
  tls_group: string[];
  /** Weaknesses: `protocol:TLSv1.0`, `cipher:<name>`, `dh:<bits>`, `heartbleed`, `renegotiation:insecure`, `compression`, `signature:<alg>`. */
  tls_weak: string[];
  banner: string[];
  /** ids of the NSE scripts that ran on the port. */
  script: string[];
}

export type SearchFieldName = keyof SearchFields;

export const SEARCH_FIELD_NAMES: readonly SearchFieldName[] = [
  'ip',
  'port',
  'protocol',
  'state',
  'service_name',
  'service_product',
  'service_version',
  'service_extrainfo',
  'cpe',
  'fqdn',
  'host',
  'domain',
  'tld',
  'fqdn_requested',
  'domain_requested',
  'ptr',
  'http_title',
  'http_server',
  'http_cookiename',
  'http_etag',
  'http_header',
  'http_headval',
  'http_favicon_path',
  'http_favicon_mmhash',
  'http_favicon_md5',
  'http_favicon_sha256',
  'x509_subject',
  'x509_subject_cn',
  'x509_issuer',
  'x509_issuer_cn',
  'x509_san',
  'x509_md5',
  'x509_sha1',
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

/**
 * One object literal (keys in SEARCH_FIELD_NAMES order, checked by
 * core/fields.test.ts): V8 gives it one fixed shape, where adding 40 keys in a
 * loop cost ~30 times more. (The parser builds compactSearchFields() below.)
 */
export function emptySearchFields(): SearchFields {
  return {
    ip: [],
    port: [],
    protocol: [],
    state: [],
    service_name: [],
    service_product: [],
    service_version: [],
    service_extrainfo: [],
    cpe: [],
    fqdn: [],
    host: [],
    domain: [],
    tld: [],
    fqdn_requested: [],
    domain_requested: [],
    ptr: [],
    http_title: [],
    http_server: [],
    http_cookiename: [],
    http_etag: [],
    http_header: [],
    http_headval: [],
    http_favicon_path: [],
    http_favicon_mmhash: [],
    http_favicon_md5: [],
    http_favicon_sha256: [],
    x509_subject: [],
    x509_subject_cn: [],
    x509_issuer: [],
    x509_issuer_cn: [],
    x509_san: [],
    x509_md5: [],
    x509_sha1: [],
    x509_sha256: [],
    x509_not_before: [],
    x509_not_after: [],
    x509_key_type: [],
    x509_key_bits: [],
    x509_sig_alg: [],
    tls_protocol: [],
    tls_cipher: [],
    tls_group: [],
    tls_weak: [],
    banner: [],
    script: [],
  };
}

/** The one empty list that compactSearchFields() shares between fields; frozen, so a push fails loudly. */
const NO_VALUES = Object.freeze([]) as unknown as string[];

/**
 * Every field, each the same frozen empty list, to be replaced (not pushed
 * into) when a value comes: what the parser builds. A parsed port keeps 40
 * lists, most of them empty; a new empty list each cost more memory than the
 * rest of the port, and ingest holds a whole batch of ports (measured: 4.3 →
 * ~2 KB per retained port, and the young-generation GC time with it).
 */
export function compactSearchFields(): SearchFields {
  // A copy of one object: a fast object. Built key by key, 40 keys make a dictionary (larger than the lists saved).
  return { ...COMPACT };
}
const COMPACT = Object.fromEntries(SEARCH_FIELD_NAMES.map((k) => [k, NO_VALUES])) as unknown as SearchFields;
