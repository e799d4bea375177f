/**
 * The predecessor's rule files read with the predecessor's meaning.
 *
 * Its query language had no parentheses and split a query shell-style, so
 * `http_title.lk:phpinfo()` and `http_server.lk:(Win64)` were plain values;
 * it stored only the common name of a certificate's subject and issuer, so its
 * `x509_subject`/`x509_issuer` terms meant the CN; its tags allowed characters
 * Plum's tags do not. A predecessor rule file (one without Plum's `tests`) is
 * rewritten into Plum's terms here, and every rewrite is reported as a note so
 * nothing changes meaning silently.
 */

export interface LegacyRewrite {
  query: string;
  tags: string[];
  /** What was rewritten, one line each. */
  notes: string[];
}

const SPECIAL = /[\s"'()\\,]/;
const KEYWORDS = new Set(['and', 'or', 'not']);
/** `field[.modifier]:` or `http_headval:<header>[.modifier]:`, then the value. */
const TERM = /^((?:http_headval:[^:\s]+|[a-z0-9_]+)(?:\.[a-z]+)?:)([\s\S]*)$/i;
/** Fields whose meaning was the common name in the predecessor. */
const CN_FIELDS: Record<string, string> = { x509_subject: 'x509_subject_cn', x509_issuer: 'x509_issuer_cn' };

/** Splits like Python's shlex.split in POSIX mode: whitespace separates, quotes group, backslash escapes. */
export function shellSplit(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inToken = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote === "'") {
      if (ch === "'") quote = null;
      else cur += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = null;
      else if (ch === '\\' && i + 1 < text.length && '"\\$`\n'.includes(text[i + 1]!)) cur += text[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inToken = true;
    } else if (ch === '\\' && i + 1 < text.length) {
      cur += text[++i];
      inToken = true;
    } else if (/\s/.test(ch)) {
      if (inToken) out.push(cur);
      cur = '';
      inToken = false;
    } else {
      cur += ch;
      inToken = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote === '"' ? 'double' : 'single'} quote`);
  if (inToken) out.push(cur);
  return out;
}

const quoteValue = (v: string) => (v === '' || SPECIAL.test(v) ? `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"` : v);

/** A predecessor query in Plum's syntax, with the same meaning. */
export function translateLegacyQuery(query: string): { query: string; notes: string[] } {
  const notes: string[] = [];
  const parts = shellSplit(query).map((token) => {
    if (KEYWORDS.has(token.toLowerCase())) return token.toUpperCase();
    const m = TERM.exec(token);
    if (!m) return quoteValue(token);
    let head = m[1]!;
    const value = m[2]!;
    const field = head.split(/[.:]/)[0]!.toLowerCase();
    const cn = CN_FIELDS[field];
    if (cn) {
      head = cn + head.slice(field.length);
      notes.push(`${field} matches the certificate's common name, as in the predecessor: written ${cn}`);
    }
    if (/[()]/.test(value)) notes.push(`"${value}" is a value (the predecessor had no parentheses): quoted`);
    return head + quoteValue(value);
  });
  return { query: parts.join(' '), notes };
}

/** A tag in Plum's alphabet: lowercase, characters outside it replaced by "-". */
export function translateLegacyTag(tag: string): { tag: string; note?: string } {
  const lower = tag.trim().toLowerCase();
  const colon = lower.indexOf(':');
  if (colon < 0) return { tag: lower };
  const clean = (s: string, extra: string) => s.replace(new RegExp(`[^a-z0-9_.+${extra}-]+`, 'g'), '-').replace(/^-+|-+$/g, '');
  const mapped = `${clean(lower.slice(0, colon), '')}:${clean(lower.slice(colon + 1), '/:')}`;
  return mapped === lower
    ? { tag: lower }
    : { tag: mapped, note: `tag "${tag}" written "${mapped}" (Plum's tags are lowercase letters, digits and _ . + / : -)` };
}

/** Rewrites one predecessor rule's query and tags; a rule that already carries Plum's `tests` is Plum's own and is left alone. */
export function rewriteLegacyRule(raw: Record<string, unknown>): LegacyRewrite | undefined {
  if ('tests' in raw || typeof raw.query !== 'string') return undefined;
  const { query, notes } = translateLegacyQuery(raw.query);
  const tags = (Array.isArray(raw.tags) ? raw.tags : typeof raw.tags === 'string' ? [raw.tags] : []).map((t) => {
    const r = translateLegacyTag(String(t));
    if (r.note) notes.push(r.note);
    return r.tag;
  });
  return { query, tags, notes: [...new Set(notes)] };
}

/** The predecessor's versions are compact UTC times (`20260520T133458Z`); as milliseconds, or NaN. */
export function compactTime(version: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(version.trim());
  return m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : Number.NaN;
}
