import type { SearchFields } from '../fields.ts';
import { faviconTags, type FaviconDb } from './favicon-db.ts';

/**
 * Fact tags: what the query language cannot express (a date compared with the
 * time of the scan, the issuer equal to the subject) or what comes from nmap's
 * favicon database. They are computed from the stored fields before any rule
 * runs, so rules can build on them (`tag:x509:expired`).
 */
export interface FactOptions {
  favicons?: FaviconDb;
  /** The time the certificate is judged at: the scan time for stored documents. */
  at: Date;
  /** Days before expiry that count as "expires soon". */
  expiringDays?: number;
}

const DAY = 86_400_000;

export type CertificateProblem = 'expired' | 'not-yet-valid' | 'expiring-soon' | 'self-signed' | 'weak-key';

/** Certificate problems visible in the fields, judged at `at`. */
export function certificateProblems(fields: Partial<SearchFields>, at: Date, expiringDays = 30): CertificateProblem[] {
  const problems: CertificateProblem[] = [];
  const t = at.getTime();
  const notAfter = (fields.x509_not_after ?? []).map(Date.parse).filter((n) => !Number.isNaN(n));
  const notBefore = (fields.x509_not_before ?? []).map(Date.parse).filter((n) => !Number.isNaN(n));
  if (notAfter.some((n) => n < t)) problems.push('expired');
  else if (notAfter.some((n) => n < t + expiringDays * DAY)) problems.push('expiring-soon');
  if (notBefore.some((n) => n > t)) problems.push('not-yet-valid');
  if (isSelfSigned(fields)) problems.push('self-signed');
  if (hasWeakKey(fields)) problems.push('weak-key');
  return problems;
}

/** The certificate problems that depend on the time judged at (engine.ts TIME_FACT_TAGS). */
const TIME_PROBLEMS: readonly CertificateProblem[] = ['expired', 'expiring-soon', 'not-yet-valid'];

/**
 * Whether a document's time-dependent fact tags differ when judged at `from` and at `to` (scan times): a
 * certificate date (or the start of its "expires soon" period) lies between them. A stable sighting moves the
 * time a document is judged at from its previous sighting to this one; otherwise its stored tags still hold.
 */
export function timeFactsMove(fields: Partial<SearchFields>, from: Date | string, to: Date | string, expiringDays = 30): boolean {
  if ((fields.x509_not_after?.length ?? 0) === 0 && (fields.x509_not_before?.length ?? 0) === 0) return false;
  const at = (t: Date | string) =>
    certificateProblems(fields, typeof t === 'string' ? new Date(t) : t, expiringDays)
      .filter((p) => TIME_PROBLEMS.includes(p))
      .join(',');
  return at(from) !== at(to);
}

const norm = (s: string) => s.toLowerCase().replace(/\s+/g, ' ').trim();

function isSelfSigned(fields: Partial<SearchFields>): boolean {
  const subject = (fields.x509_subject ?? []).map(norm);
  const issuer = (fields.x509_issuer ?? []).map(norm);
  if (subject.length > 0 && issuer.length > 0) return subject.some((s) => issuer.includes(s));
  const scn = (fields.x509_subject_cn ?? []).map(norm);
  const icn = (fields.x509_issuer_cn ?? []).map(norm);
  return scn.length > 0 && icn.length > 0 && scn.some((s) => icn.includes(s));
}

/** RSA/DSA under 2048 bits, elliptic curves under 224 bits. */
function hasWeakKey(fields: Partial<SearchFields>): boolean {
  const ec = (fields.x509_key_type ?? []).some((t) => /^(ec|ecdsa|id-ecpublickey|ed25519|ed448)/i.test(t.trim()));
  return (fields.x509_key_bits ?? []).some((b) => {
    const n = Number(b);
    if (!Number.isFinite(n) || n <= 0) return false;
    return ec ? n < 224 : n < 2048;
  });
}

/** All fact tags of one document (favicon-db identification and `x509:<problem>`). */
export function factTags(fields: Partial<SearchFields>, opts: FactOptions): string[] {
  const tags = faviconTags(opts.favicons, fields.http_favicon_md5 ?? []);
  for (const p of certificateProblems(fields, opts.at, opts.expiringDays)) tags.push(`x509:${p}`);
  return [...new Set(tags)];
}
