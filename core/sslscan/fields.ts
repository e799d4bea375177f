import type { SearchFieldName } from '../fields.ts';
import type { ScriptDocument, ScriptTable } from '../nmap/types.ts';

/*
 * The search fields of a TLS scanner's `sslscan` script (core/sslscan/read.ts builds it): tls_* for what the
 * service offers, and the certificate in the x509_* fields nmap's ssl-cert fills, so certificate searches,
 * rules and fact tags (core/rules/facts.ts) treat both scanners' certificates alike.
 */

/** Protocols a monitor flags: broken or deprecated (RFC 8996 for TLS 1.0 and 1.1). */
export const WEAK_PROTOCOLS: ReadonlySet<string> = new Set(['SSLv2', 'SSLv3', 'TLSv1.0', 'TLSv1.1']);
/** sslscan's cipher strengths below `acceptable`. */
const WEAK_STRENGTHS = new Set(['null', 'anonymous', 'weak', 'medium']);

/** The weaknesses a TLS document shows (`tls_weak`): `protocol:TLSv1.0`, `cipher:…`, `heartbleed`… */
export function tlsWeaknesses(doc: ScriptDocument): string[] {
  const out: string[] = [];
  for (const p of (doc.protocols as string[] | undefined) ?? []) if (WEAK_PROTOCOLS.has(p)) out.push(`protocol:${p}`);
  for (const c of (doc.ciphers as ScriptTable[] | undefined) ?? []) {
    const bits = Number(c.bits);
    const kex = Number(c.kex_bits);
    if (WEAK_STRENGTHS.has(String(c.strength)) || (Number.isFinite(bits) && bits > 0 && bits < 112)) out.push(`cipher:${String(c.name)}`);
    // Finite-field Diffie-Hellman under 2048 bits (Logjam); elliptic curves report their own sizes.
    if (!c.curve && Number.isFinite(kex) && kex > 0 && kex < 2048) out.push(`dh:${kex}`);
  }
  if (Array.isArray(doc.heartbleed)) out.push('heartbleed');
  if (doc.renegotiation === 'insecure') out.push('renegotiation:insecure');
  if (doc.compression === 'enabled') out.push('compression');
  const sig = (doc.certificate as ScriptTable | undefined)?.signature_algorithm;
  if (typeof sig === 'string' && /md2|md4|md5|sha1With|sha1$/i.test(sig)) out.push(`signature:${sig}`);
  return [...new Set(out)];
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export function sslscanFields(s: ScriptDocument, add: (name: SearchFieldName, value: string | undefined) => void, addName: (name: string) => void): void {
  for (const p of (s.protocols as string[] | undefined) ?? []) add('tls_protocol', p);
  for (const c of (s.ciphers as ScriptTable[] | undefined) ?? []) add('tls_cipher', str(c.name));
  for (const g of (s.groups as ScriptTable[] | undefined) ?? []) add('tls_group', str(g.name));
  for (const w of tlsWeaknesses(s)) add('tls_weak', w);
  const cert = s.certificate as ScriptTable | undefined;
  if (!cert) return;
  const subject = str(cert.subject);
  const issuer = str(cert.issuer);
  add('x509_subject', subject);
  add('x509_issuer', issuer);
  const cn = (dn: string | undefined) => (dn ? /(?:^|,\s*)CN=([^,]+)/.exec(dn)?.[1]?.trim() : undefined);
  add('x509_subject_cn', cn(subject));
  add('x509_issuer_cn', cn(issuer));
  if (cn(subject)) addName(cn(subject)!);
  for (const san of (cert.san as string[] | undefined) ?? []) {
    const m = /^(DNS|IP Address|email|URI):(.*)$/.exec(san);
    if (!m) continue;
    add('x509_san', m[2]!.trim());
    if (m[1] === 'DNS') addName(m[2]!.trim());
  }
  add('x509_not_before', str(cert.not_before));
  add('x509_not_after', str(cert.not_after));
  add('x509_key_type', str(cert.key_type));
  add('x509_key_bits', str(cert.key_bits));
  add('x509_sha256', str(cert.sha256));
  add('x509_sha1', str(cert.sha1));
  add('x509_md5', str(cert.md5));
  add('x509_sig_alg', str(cert.signature_algorithm));
}
