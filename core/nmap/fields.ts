import { X509Certificate } from 'node:crypto';
import { parse as parseDomain } from 'tldts';
import { compactSearchFields, type SearchFields } from '../fields.ts';
import { digestHex } from './fingerprint.ts';
import { sslscanFields } from '../sslscan/fields.ts';
import type { HostDocument, PortDocument, ScriptDocument, ScriptTable, ScriptValue } from './types.ts';

/*
 * SearchFields of one port document (core/fields.ts is the contract).
 * Sources: the host (ip, hostnames), the port and service, and the NSE scripts
 * (stock http-*, ssl-cert, banner, http-favicon, and the project's plum-banner
 * and plum-favicon). Every value is a string; lists are de-duplicated in order.
 */

const str = (v: ScriptValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
const table = (v: ScriptValue | undefined): ScriptTable | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as ScriptTable) : undefined);

class Acc {
  readonly f: SearchFields = compactSearchFields();
  add(name: keyof SearchFields, value: string | undefined | null): void {
    if (value === undefined || value === null) return;
    const v = value.trim();
    if (v === '') return;
    const list = this.f[name];
    // Empty: the shared frozen list, replaced by a list of exactly one value (most fields get one).
    if (list.length === 0) this.f[name] = [v];
    // Lists are short (a few values): a scan beats a Set per field.
    else if (!list.includes(v)) list.push(v);
  }
}

/** Adds a DNS name and its PSL parts (fqdn, host, domain, tld). */
function addName(acc: Acc, raw: string, requested = false): void {
  let name = raw.trim().toLowerCase().replace(/\.$/, '');
  if (name.startsWith('*.')) name = name.slice(2);
  if (!name || !/^[a-z0-9_.-]+$/.test(name) || !name.includes('.')) return;
  const d = parseDomain(name, { allowPrivateDomains: false });
  if (d.isIp) return;
  acc.add('fqdn', name);
  if (d.domain) acc.add('domain', d.domain);
  if (d.subdomain) acc.add('host', d.subdomain);
  if (d.publicSuffix) acc.add('tld', d.publicSuffix);
  if (requested) {
    acc.add('fqdn_requested', name);
    if (d.domain) acc.add('domain_requested', d.domain);
  }
}

function hostOfUrl(u: string): string | undefined {
  try {
    return new URL(u).hostname;
  } catch {
    return undefined;
  }
}

/**
 * A banner masscan grabbed (core/masscan/hosts.ts): the page title, the HTTP response's headers, a
 * certificate (base64, not a banner an analyst reads), or a protocol's greeting.
 */
function masscanBanner(acc: Acc, name: string, text: string): void {
  if (name === 'title') acc.add('http_title', text);
  else if (name === 'http') addHeaders(acc, headerLines(text));
  // http.server repeats the Server headers that `http` holds, run together; X509 is DER in base64.
  else if (name !== 'http.server' && !name.startsWith('X509')) acc.add('banner', text.replace(/[\r\n]+$/, ''));
}

/** "Name: value" lines of http-headers output (indented, one per line). */
function headerLines(output: string): { name: string; value: string }[] {
  const out: { name: string; value: string }[] = [];
  for (const line of output.split(/\r?\n/)) {
    const m = /^\s*([A-Za-z0-9][A-Za-z0-9_.-]*)\s*:\s?(.*)$/.exec(line);
    if (m && !line.trim().startsWith('(')) out.push({ name: m[1]!, value: m[2]!.trimEnd() });
  }
  return out;
}

function addHeaders(acc: Acc, headers: { name: string; value: string }[]): void {
  for (const { name, value } of headers) {
    const lname = name.toLowerCase();
    acc.add('http_header', lname);
    acc.add('http_headval', `${lname}: ${value}`);
    if (lname === 'server') acc.add('http_server', value);
    if (lname === 'etag') acc.add('http_etag', value.replace(/^W\//, '').replace(/^"|"$/g, ''));
    if (lname === 'set-cookie') {
      const eq = value.indexOf('=');
      if (eq > 0) acc.add('http_cookiename', value.slice(0, eq).trim());
    }
    if (lname === 'location' || lname === 'content-location') {
      const h = hostOfUrl(value);
      if (h) addName(acc, h);
    }
  }
}

/** Distinguished name from an nmap ssl-cert subject/issuer table, "CN=…, O=…" order as nmap gives it. */
const DN_SHORT: Record<string, string> = {
  commonName: 'CN',
  organizationName: 'O',
  organizationalUnitName: 'OU',
  countryName: 'C',
  stateOrProvinceName: 'ST',
  localityName: 'L',
  emailAddress: 'emailAddress',
  domainComponent: 'DC',
  serialNumber: 'serialNumber',
  streetAddress: 'street',
  postalCode: 'postalCode',
};
function dnOf(t: ScriptTable | undefined): string | undefined {
  if (!t) return undefined;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(t)) {
    const values = Array.isArray(v) ? v : [v];
    for (const x of values) if (typeof x === 'string') parts.push(`${DN_SHORT[k] ?? k}=${x}`);
  }
  return parts.length ? parts.join(', ') : undefined;
}

function isoDate(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const s = /Z|[+-]\d{2}:?\d{2}$/.test(v) ? v : `${v}Z`;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

function sslCert(acc: Acc, s: ScriptDocument): void {
  const subject = table(s.subject);
  const issuer = table(s.issuer);
  acc.add('x509_subject', dnOf(subject));
  acc.add('x509_issuer', dnOf(issuer));
  const cn = str(subject?.commonName);
  acc.add('x509_subject_cn', cn);
  acc.add('x509_issuer_cn', str(issuer?.commonName));
  if (cn) addName(acc, cn);
  const pubkey = table(s.pubkey);
  acc.add('x509_key_type', str(pubkey?.type));
  acc.add('x509_key_bits', str(pubkey?.bits));
  const validity = table(s.validity);
  acc.add('x509_not_before', isoDate(str(validity?.notBefore)));
  acc.add('x509_not_after', isoDate(str(validity?.notAfter)));
  acc.add('x509_md5', str(s.md5)?.toLowerCase());
  acc.add('x509_sha1', str(s.sha1)?.toLowerCase());
  acc.add('x509_sha256', str(s.sha256)?.toLowerCase());
  // Subject Alternative Names: extension tables {name, value}.
  const ext = s.extensions;
  const extTables: ScriptTable[] = table(ext)?.tables ?? (Array.isArray(ext) ? (ext.filter((x) => table(x)) as ScriptTable[]) : []);
  for (const e of extTables) {
    if (str(e.name) !== 'X509v3 Subject Alternative Name') continue;
    for (const part of (str(e.value) ?? '').split(',')) {
      const m = /^\s*(DNS|IP Address|email|URI):(.*)$/.exec(part);
      if (!m) continue;
      const v = m[2]!.trim();
      acc.add('x509_san', v);
      if (m[1] === 'DNS') addName(acc, v);
    }
  }
  // Hashes nmap does not print (sha256 in nmap < 7.94) come from the PEM's DER bytes;
  // the PEM is decoded only when something is missing (most of this function's time went there).
  const pem = str(s.pem);
  const missing = (['md5', 'sha1', 'sha256'] as const).filter((alg) => !str(s[alg]));
  if (pem && (missing.length > 0 || !subject || !issuer)) {
    const b64 = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem)?.[1];
    const der = b64 ? Buffer.from(b64.replace(/\s+/g, ''), 'base64') : undefined;
    if (der && der.length > 0) for (const alg of missing) acc.add(`x509_${alg}`, digestHex(alg, der));
    if ((!subject || !issuer) && der) {
      try {
        const cert = new X509Certificate(der);
        if (!subject) acc.add('x509_subject', cert.subject.split('\n').join(', '));
        if (!issuer) acc.add('x509_issuer', cert.issuer.split('\n').join(', '));
      } catch {
        // A PEM that does not parse is kept in the document; no fields from it.
      }
    }
  }
}

function favicon(acc: Acc, s: ScriptDocument): void {
  if (s.id === 'plum-favicon' || s.id === 'http-mm-sha-favicon') {
    acc.add('http_favicon_path', str(s.path));
    acc.add('http_favicon_mmhash', str(s.mmh3) ?? str(s.mmhash) ?? str(s.favicon_mmhash));
    acc.add('http_favicon_md5', (str(s.md5) ?? str(s.favicon_md5))?.toLowerCase());
    acc.add('http_favicon_sha256', (str(s.sha256) ?? str(s.favicon_sha256))?.toLowerCase());
    return;
  }
  // stock http-favicon: "Unknown favicon MD5: …" or the name of a known favicon.
  const m = /MD5:\s*([0-9a-fA-F]{32})/.exec(s.output);
  if (m) acc.add('http_favicon_md5', m[1]!.toLowerCase());
}

export function extractFields(host: HostDocument, port: PortDocument): SearchFields {
  const acc = new Acc();
  acc.add('ip', host.addr);
  acc.add('port', port.portid);
  acc.add('protocol', port.protocol);
  acc.add('state', port.state.state);
  const svc = port.service;
  if (svc) {
    acc.add('service_name', svc.name);
    acc.add('service_product', svc.product as string | undefined);
    acc.add('service_version', svc.version as string | undefined);
    acc.add('service_extrainfo', svc.extrainfo as string | undefined);
    for (const c of svc.cpe ?? []) acc.add('cpe', c);
    if (typeof svc.hostname === 'string') addName(acc, svc.hostname);
  }
  for (const h of host.hostnames) {
    addName(acc, h.name, h.type === 'user');
    if (h.type === 'PTR') acc.add('ptr', h.name.toLowerCase());
  }
  for (const s of port.scripts) {
    acc.add('script', s.id);
    switch (s.id) {
      case 'http-headers':
        addHeaders(acc, headerLines(s.output));
        break;
      case 'http-title': {
        const t = str(s.title);
        if (t !== undefined) acc.add('http_title', t);
        // nmap < 6 printed the title only as output, without elems.
        else if (!s.elems && !/^(Site doesn't have a title|Did not follow redirect|Requested resource was)/.test(s.output)) {
          acc.add('http_title', s.output.split('\n')[0]);
        }
        const redirect = str(s.redirect_url);
        if (redirect) {
          const h = hostOfUrl(redirect);
          if (h) addName(acc, h);
        }
        break;
      }
      case 'http-server-header':
        for (const e of s.elems ?? []) acc.add('http_server', e);
        if (!s.elems?.length && s.output) acc.add('http_server', s.output);
        break;
      case 'ssl-cert':
        sslCert(acc, s);
        break;
      case 'sslscan':
        // The TLS scanner's document (core/sslscan/read.ts), not an NSE script.
        sslscanFields(
          s,
          (name, value) => acc.add(name, value),
          (name) => addName(acc, name),
        );
        break;
      case 'http-favicon':
      case 'plum-favicon':
      case 'http-mm-sha-favicon':
        favicon(acc, s);
        break;
      case 'banner':
        // nmap wraps long banners with literal newlines (real ones are escaped).
        acc.add('banner', s.output.replace(/\n/g, ''));
        break;
      case 'plum-banner':
        acc.add('banner', str(s.banner) ?? s.output);
        break;
      default:
        if (s.id.startsWith('masscan:')) masscanBanner(acc, s.id.slice('masscan:'.length), s.output);
    }
  }
  return acc.f;
}
