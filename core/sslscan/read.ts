import { X509Certificate } from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';
import ipaddr from 'ipaddr.js';
import type { ScannedHost, ScannedResult, ScannerJob } from '../scanner/contract.ts';
import { extractFields } from '../nmap/fields.ts';
import { digestHex, fingerprintVersion, portFingerprint } from '../nmap/fingerprint.ts';
import type { HostDocument, PortDocument, ScriptDocument, ScriptTable } from '../nmap/types.ts';
import { defaultVolatileList, type VolatileList } from '../nmap/volatile.ts';
import { sslscanView } from './options.ts';

/*
 * sslscan's XML → hosts and ports of our own (core/scanner/contract.ts). Pure.
 *
 * The runner (activities/sslscan.ts) runs sslscan once per (address, port) and wraps each run's XML in a
 * `<target>` element of ours that says what was scanned, when, and whether it ran to its end:
 *
 *   <plum-sslscan version="1">
 *     <target address="127.0.0.1" port="443" name="www.example.org" started="…" ended="…" exit="0"> sslscan's <document> </target>
 *   </plum-sslscan>
 *
 * A bare sslscan document (`sslscan --xml=…`) reads too, for its <ssltest> elements whose host is an address.
 *
 * Each <ssltest> becomes one port whose document holds one script, `sslscan`, with what a monitor tracks:
 * enabled protocols, accepted ciphers, key exchange groups, compression, renegotiation, heartbleed, fallback
 * SCSV and the certificate. Left out, so that an unchanged service keeps its fingerprint: handshake times,
 * the `expired` flag (a fact of the scan time: core/rules/facts.ts judges the dates), the order sslscan
 * printed lists in (lists are sorted). A target that ran to its end without a <ssltest> (nothing listens)
 * leaves its host with that port missing: gone, as for nmap. A target cut short (timeout, cancellation,
 * truncated output) leaves its host `timedOut`: its missing ports are unknown, never gone.
 */

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : isObj(v) ? [v] : []);
const text = (v: unknown): string | undefined => {
  if (typeof v === 'string') return v.trim() || undefined;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (isObj(v) && typeof v['#text'] === 'string') return v['#text'].trim() || undefined;
  return undefined;
};

const ARRAYS = new Set([
  'protocol',
  'cipher',
  'group',
  'heartbleed',
  'certificate',
  'error',
  'extension',
  'ssltest',
  'sigalg',
  'fallback',
  'compression',
  'renegotiation',
]);
const xml = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
  htmlEntities: false,
  isArray: (name) => ARRAYS.has(name),
});

/** sslscan's protocol names, in the order a reader expects them. */
export const TLS_PROTOCOLS = ['SSLv2', 'SSLv3', 'TLSv1.0', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;

function protocolName(type: string | undefined, version: string | undefined): string | undefined {
  if (!type || !version) return undefined;
  if (type.toLowerCase() === 'ssl') return `SSLv${version}`;
  if (type.toLowerCase() === 'tls') return `TLSv${version}`;
  return undefined;
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const tableOrder = (a: ScriptTable, b: ScriptTable) => byText(JSON.stringify(a), JSON.stringify(b));

/** "/CN=a/O=b" (sslscan prints OpenSSL's one-line form) → "CN=a, O=b", the form nmap's fields use. */
export function slashDn(dn: string | undefined): string | undefined {
  if (!dn) return undefined;
  if (!dn.startsWith('/')) return dn;
  return dn
    .slice(1)
    .split(/\/(?=[A-Za-z][A-Za-z0-9.]*=)/)
    .join(', ');
}

/** "Dec  6 16:28:48 2026 GMT" → ISO 8601; undefined when it does not read as a date. */
export function opensslDate(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const d = new Date(v.replace(/\s+/g, ' ').replace(/ GMT$/, ' UTC'));
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

function certificateTable(certs: Obj[]): ScriptTable | undefined {
  const full = certs.find((c) => c.type === 'full');
  const short = certs.find((c) => c.type === 'short') ?? certs.find((c) => c.type !== 'full');
  if (!full && !short) return undefined;
  const out: ScriptTable = {};
  const set = (k: string, v: string | undefined) => {
    if (v !== undefined && v !== '') out[k] = v;
  };
  const pem = text(full?.['certificate-blob']);
  let cert: X509Certificate | undefined;
  if (pem) {
    try {
      cert = new X509Certificate(pem);
    } catch {
      // A blob that does not read: the fields sslscan printed still do.
    }
  }
  const pk = list(short?.pk)[0] ?? list(full?.pk)[0];
  if (cert) {
    set('subject', cert.subject.split('\n').join(', '));
    set('issuer', cert.issuer.split('\n').join(', '));
    set('not_before', opensslDate(cert.validFrom));
    set('not_after', opensslDate(cert.validTo));
    set('serial', cert.serialNumber.toLowerCase());
    set('sha256', digestHex('sha256', cert.raw));
    set('sha1', digestHex('sha1', cert.raw));
    set('md5', digestHex('md5', cert.raw));
    const key = cert.publicKey;
    set('key_type', key.asymmetricKeyType);
    const details = key.asymmetricKeyDetails;
    if (details?.modulusLength) set('key_bits', String(details.modulusLength));
    if (details?.namedCurve) set('key_curve', details.namedCurve);
    if (cert.subjectAltName)
      out.san = cert.subjectAltName
        .split(/,\s*/)
        .map((s) => s.trim())
        .filter(Boolean)
        .sort(byText);
    set('pem', pem?.replace(/\r/g, ''));
  } else {
    set('subject', slashDn(text(full?.subject)) ?? (text(short?.subject) ? `CN=${text(short?.subject)}` : undefined));
    set('issuer', slashDn(text(full?.issuer)) ?? (text(short?.issuer) ? `CN=${text(short?.issuer)}` : undefined));
    set('not_before', opensslDate(text(short?.['not-valid-before']) ?? text(full?.['not-valid-before'])));
    set('not_after', opensslDate(text(short?.['not-valid-after']) ?? text(full?.['not-valid-after'])));
    set('serial', text(full?.serial)?.replace(/:/g, '').toLowerCase());
    const alt = text(short?.altnames);
    if (alt)
      out.san = alt
        .split(/,\s*/)
        .map((s) => s.trim())
        .filter(Boolean)
        .sort(byText);
  }
  // What sslscan judges itself: the key when the blob was not given, the signature and self-signature always.
  if (!out.key_type && typeof pk?.type === 'string') set('key_type', pk.type.toLowerCase());
  if (!out.key_bits && typeof pk?.bits === 'string') set('key_bits', pk.bits);
  const sig = text(short?.['signature-algorithm']) ?? text(full?.['signature-algorithm'])?.replace(/^Signature Algorithm:\s*/, '');
  set('signature_algorithm', sig);
  const selfSigned = text(short?.['self-signed']);
  if (selfSigned) set('self_signed', selfSigned === 'true' ? 'true' : 'false');
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The `sslscan` script of one <ssltest>: our own document of what the service offers. */
export function sslscanScript(test: Obj): ScriptDocument {
  const protocols: string[] = [];
  for (const p of list(test.protocol)) {
    const name = protocolName(p.type as string | undefined, p.version as string | undefined);
    if (name && p.enabled === '1') protocols.push(name);
  }
  protocols.sort((a, b) => TLS_PROTOCOLS.indexOf(a as (typeof TLS_PROTOCOLS)[number]) - TLS_PROTOCOLS.indexOf(b as (typeof TLS_PROTOCOLS)[number]));
  const ciphers: ScriptTable[] = list(test.cipher)
    .filter((c) => c.status === 'accepted' || c.status === 'preferred')
    .map((c) => {
      const t: ScriptTable = {
        protocol: String(c.sslversion ?? ''),
        name: String(c.cipher ?? ''),
        bits: String(c.bits ?? ''),
        strength: String(c.strength ?? ''),
      };
      if (c.status === 'preferred') t.preferred = 'true';
      if (typeof c.curve === 'string') t.curve = c.curve;
      if (typeof c.ecdhebits === 'string') t.kex_bits = c.ecdhebits;
      if (typeof c.dhebits === 'string') t.kex_bits = c.dhebits;
      return t;
    })
    .sort(tableOrder);
  const groups: ScriptTable[] = list(test.group)
    .map((g) => ({ protocol: String(g.sslversion ?? ''), name: String(g.name ?? ''), bits: String(g.bits ?? '') }))
    .sort(tableOrder);
  const doc: ScriptDocument = { id: 'sslscan', output: '', protocols };
  if (ciphers.length) doc.ciphers = ciphers;
  if (groups.length) doc.groups = groups;
  const reneg = list(test.renegotiation)[0];
  if (reneg) doc.renegotiation = reneg.supported !== '1' ? 'unsupported' : reneg.secure === '1' ? 'secure' : 'insecure';
  const comp = list(test.compression)[0];
  if (comp) doc.compression = comp.supported === '1' ? 'enabled' : 'disabled';
  const fallback = list(test.fallback)[0];
  if (fallback) doc.fallback_scsv = fallback.supported === '1' ? 'supported' : 'unsupported';
  const heartbleed = list(test.heartbleed);
  if (heartbleed.length) {
    const vulnerable = heartbleed
      .filter((h) => h.vulnerable === '1')
      .map((h) => String(h.sslversion ?? ''))
      .sort(byText);
    doc.heartbleed = vulnerable.length ? vulnerable : 'not vulnerable';
  }
  const cert = certificateTable(list(isObj(test.certificates) ? test.certificates.certificate : undefined));
  if (cert) doc.certificate = cert;
  doc.output = summary(doc);
  return doc;
}

/** One line an analyst reads: protocols, cipher count, certificate. */
function summary(doc: ScriptDocument): string {
  const parts = [doc.protocols && (doc.protocols as string[]).length ? (doc.protocols as string[]).join(' ') : 'no SSL/TLS protocol'];
  const ciphers = (doc.ciphers as ScriptTable[] | undefined) ?? [];
  if (ciphers.length) parts.push(`${ciphers.length} cipher${ciphers.length === 1 ? '' : 's'}`);
  const cert = doc.certificate as ScriptTable | undefined;
  if (cert?.subject)
    parts.push(
      `certificate ${String(cert.subject)}${cert.self_signed === 'true' ? ' (self-signed)' : ''}${cert.not_after ? ` until ${String(cert.not_after).slice(0, 10)}` : ''}`,
    );
  return parts.join('; ');
}

function portDoc(test: Obj): PortDocument | undefined {
  const port = Number(test.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  const script = sslscanScript(test);
  const tls = (script.protocols as string[]).length > 0;
  return {
    protocol: 'tcp',
    portid: String(port),
    state: { state: 'open' },
    // A port that answered without any SSL/TLS protocol is open all the same: its service is not named.
    ...(tls ? { service: { name: 'ssl', tunnel: 'ssl', method: 'sslscan' } } : {}),
    scripts: [script],
  };
}

function canonicalAddress(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const s = v.replace(/^\[|\]$/g, '');
  if (!ipaddr.isValid(s)) return undefined;
  return ipaddr.parse(s).toString();
}

const epochIso = (v: string | undefined): string | undefined => (v && /^\d+$/.test(v) ? new Date(Number(v) * 1000).toISOString() : undefined);

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([a-zA-Z_][\w-]*)="([^"]*)"/g))
    out[m[1]!] = m[2]!
      .replace(/&quot;/g, '"')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&');
  return out;
}

interface TargetRead {
  address: string;
  port: number;
  name?: string;
  startedAt?: string;
  endedAt?: string;
  complete: boolean;
  doc?: PortDocument;
}

/** The <ssltest> elements of a piece of sslscan output; a truncated last one is left out. */
function sslTests(inner: string): { tests: Obj[]; truncated: boolean; error?: string } {
  const tests: Obj[] = [];
  let error: string | undefined;
  for (const m of inner.matchAll(/<ssltest\b[\s\S]*?<\/ssltest>/g)) {
    try {
      const parsed = xml.parse(m[0]) as Obj;
      for (const t of list(parsed.ssltest)) tests.push(t);
    } catch (e) {
      error = `invalid sslscan XML (${(e as Error).message.split('\n')[0]})`;
    }
  }
  const opened = (inner.match(/<ssltest\b/g) ?? []).length;
  const closed = (inner.match(/<\/ssltest>/g) ?? []).length;
  return { tests, truncated: opened > closed, ...(error ? { error } : {}) };
}

export interface SslscanReadOptions {
  volatile?: VolatileList;
}

/** sslscan output (the runner's or a bare document) → the contract's result. */
export function readSslscan(output: Buffer | string, job: Pick<ScannerJob, 'options'> = {}, opts: SslscanReadOptions = {}): ScannedResult {
  const volatile = opts.volatile ?? defaultVolatileList();
  const fpVersion = fingerprintVersion(volatile);
  const s = typeof output === 'string' ? output : output.toString('utf8');
  const reads: TargetRead[] = [];
  const errors: string[] = [];
  let finished: boolean;
  let started: string | undefined;
  let ended: string | undefined;
  if (/<plum-sslscan\b/.test(s)) {
    finished = /<\/plum-sslscan>\s*$/.test(s);
    const head = /<plum-sslscan\b[^>]*>/.exec(s);
    if (head) {
      const a = attributes(head[0]);
      started = epochIso(a.started);
      ended = epochIso(a.ended);
    }
    const opened = (s.match(/<target\b/g) ?? []).length;
    let closed = 0;
    for (const m of s.matchAll(/<target\b([^>]*)>([\s\S]*?)<\/target>/g)) {
      closed++;
      const a = attributes(m[1]!);
      const address = canonicalAddress(a.address);
      const port = Number(a.port);
      if (!address || !Number.isInteger(port) || port < 1 || port > 65535) {
        errors.push(`a target without a valid address and port (${m[1]!.trim().slice(0, 80)})`);
        continue;
      }
      const { tests, truncated, error } = sslTests(m[2]!);
      if (error) errors.push(`${address}:${port}: ${error}`);
      const complete = a.interrupted !== 'true' && !truncated && !error;
      const test = tests.find((t) => Number(t.port) === port) ?? tests[0];
      const doc = test ? portDoc({ ...test, port: String(port) }) : undefined;
      reads.push({
        address,
        port,
        complete,
        ...(a.name ? { name: a.name } : {}),
        ...(doc ? { doc } : {}),
        ...(epochIso(a.started) ? { startedAt: epochIso(a.started) } : {}),
        ...(epochIso(a.ended) ? { endedAt: epochIso(a.ended) } : {}),
      });
    }
    if (opened > closed) finished = false;
  } else if (!/<document\b/.test(s)) {
    finished = false;
    errors.push("not sslscan output: give the TLS runner's output or a file sslscan wrote with --xml");
  } else {
    const { tests, truncated, error } = sslTests(s);
    if (error) errors.push(error);
    finished = !truncated && /<\/document>\s*$/.test(s);
    for (const t of tests) {
      const address = canonicalAddress(t.host);
      if (!address) {
        errors.push(`sslscan tested "${String(t.host)}", not an address: give the runner's output or scan addresses`);
        continue;
      }
      const doc = portDoc(t);
      if (doc) {
        const name = typeof t.sniname === 'string' && !canonicalAddress(t.sniname) ? t.sniname : undefined;
        reads.push({ address, port: Number(doc.portid), complete: true, doc, ...(name ? { name } : {}) });
      }
    }
  }

  const hosts = new Map<string, ScannedHost & { docs: Map<number, PortDocument>; names: Set<string> }>();
  for (const r of reads) {
    let h = hosts.get(r.address);
    if (!h) {
      h = { ip: r.address, status: 'up', hostnames: [], timedOut: false, ports: [], docs: new Map(), names: new Set() };
      hosts.set(r.address, h);
    }
    if (!r.complete || !finished) h.timedOut = true;
    if (r.name) h.names.add(r.name.toLowerCase());
    if (r.startedAt && (!h.startedAt || r.startedAt < h.startedAt)) h.startedAt = r.startedAt;
    if (r.endedAt && (!h.endedAt || r.endedAt > h.endedAt)) h.endedAt = r.endedAt;
    if (r.doc && r.complete && !h.docs.has(r.port)) h.docs.set(r.port, r.doc);
  }
  const out: ScannedHost[] = [];
  for (const h of [...hosts.values()].sort((a, b) => byText(a.ip, b.ip))) {
    const hostnames = [...h.names].sort(byText).map((name) => ({ name, type: 'user' }));
    const docs = [...h.docs.values()].sort((a, b) => Number(a.portid) - Number(b.portid));
    const hostDoc: HostDocument = { addr: h.ip, addresses: [], hostnames, status: { state: 'up' }, ports: docs, extraports: [], hostscripts: [], extra: {} };
    out.push({
      ip: h.ip,
      status: 'up',
      hostnames,
      timedOut: h.timedOut,
      ...(h.startedAt ? { startedAt: h.startedAt } : {}),
      ...(h.endedAt ? { endedAt: h.endedAt } : {}),
      ports: docs.map((doc) => ({
        ip: h.ip,
        protocol: doc.protocol,
        port: Number(doc.portid),
        state: doc.state.state,
        hsh256: portFingerprint(doc, volatile),
        fpVersion,
        fields: extractFields(hostDoc, doc),
        doc,
      })),
    });
  }
  return {
    view: sslscanView(job.options),
    finished,
    hosts: out,
    ...(started ? { startedAt: started } : {}),
    ...(ended ? { endedAt: ended } : {}),
    ...(errors.length
      ? { error: errors.join('; ') }
      : !finished && reads.length > 0
        ? { error: 'the sslscan output ends before its last target: interrupted or truncated' }
        : {}),
  };
}
