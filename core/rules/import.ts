import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PlumError } from '../errors.ts';
import { collectTerms, type QueryNode, type TermNode } from '../query/ast.ts';
import { parseRuleQuery, RULE_FORBIDDEN_FIELDS } from './engine.ts';
import { rewriteLegacyRule } from './legacy.ts';
import { listRuleFiles, parseRuleYaml, ruleFromObject } from './load.ts';
import { compareVersions, type Rule } from './schema.ts';

export interface ImportProblem {
  file: string;
  reason: string;
}

export interface LegacyImport {
  /** Valid rules, one per name (the newest version found in the directory). */
  rules: Rule[];
  /** Files superseded by a newer version of the same rule in the directory. */
  superseded: ImportProblem[];
  /** Files that cannot be used, with the reason (bad YAML, unknown field, a query that can never match...). */
  invalid: ImportProblem[];
  /** Predecessor rules rewritten to keep their meaning in Plum's terms: what was rewritten, per file. */
  notes: ImportProblem[];
}

const HEX = (n: number) => new RegExp(`^[0-9a-f]{${n}}$`);
const PROTOCOLS = new Set(['tcp', 'udp', 'sctp', 'ip']);
const STATES = new Set(['open', 'closed', 'filtered', 'unfiltered', 'open|filtered', 'closed|filtered']);

/** Why one value of a term can never be found in a document, or undefined if it can. */
function impossibleValue(term: TermNode, v: string): string | undefined {
  const exact = term.mode === 'exact' && term.op === 'eq';
  switch (term.field) {
    case 'port':
      if (term.op === 'eq' && Number(v) > 65535) return `port ${v} is above 65535`;
      if ((term.op === 'gt' && Number(v) >= 65535) || (term.op === 'lt' && Number(v) <= 0)) return `port ${term.op} ${v} is impossible`;
      return undefined;
    case 'protocol':
      return exact && !PROTOCOLS.has(v) ? `protocol "${v}" is not tcp, udp or sctp` : undefined;
    case 'state':
      return exact && !STATES.has(v) ? `state "${v}" is not an nmap port state` : undefined;
    case 'http_favicon_md5':
    case 'x509_md5':
      return exact && !HEX(32).test(v) ? `${term.field} "${v}" is not an MD5 (32 hex digits)` : undefined;
    case 'x509_sha1':
      return exact && !HEX(40).test(v) ? `${term.field} "${v}" is not a SHA-1 (40 hex digits)` : undefined;
    case 'http_favicon_sha256':
    case 'x509_sha256':
      return exact && !HEX(64).test(v) ? `${term.field} "${v}" is not a SHA-256 (64 hex digits)` : undefined;
    case 'http_favicon_mmhash': {
      if (!exact) return undefined;
      const n = Number(v);
      return !/^-?\d+$/.test(v) || n < -2147483648 || n > 2147483647 ? `http_favicon_mmhash "${v}" is not a signed 32-bit integer` : undefined;
    }
    case 'tag':
      return exact && !v.includes(':') ? `tag "${v}" has no namespace (tags are namespace:value)` : undefined;
    default:
      return undefined;
  }
}

/**
 * Whether a query can match some document; returns the reason when it cannot.
 * A term whose every value is impossible never holds; AND needs all children,
 * OR needs one; a negation can always hold.
 */
export function neverMatches(node: QueryNode): string | undefined {
  switch (node.type) {
    case 'term': {
      const reasons = node.values.map((v) => impossibleValue(node, v));
      return reasons.every((r) => r !== undefined) ? reasons[0] : undefined;
    }
    case 'not':
      return undefined;
    case 'and':
      for (const c of node.children) {
        const r = neverMatches(c);
        if (r) return r;
      }
      return undefined;
    case 'or': {
      const rs = node.children.map(neverMatches);
      return rs.every((r) => r !== undefined) ? rs[0] : undefined;
    }
  }
}

/** Full validation of one rule: its query parses, uses no time terms, and can match something. */
export function validateRule(rule: Rule): string | undefined {
  let node: QueryNode;
  try {
    node = parseRuleQuery(rule);
  } catch (e) {
    return (e as PlumError).message.replace(/^rule \S+ \([^)]*\): /, '');
  }
  const timeTerm = collectTerms(node).find((t) => RULE_FORBIDDEN_FIELDS.has(t.field));
  if (timeTerm) return `"${timeTerm.field}" cannot be used in a rule (rules judge one document, not history)`;
  const never = neverMatches(node);
  return never ? `the query can never match: ${never}` : undefined;
}

/** One rule file's text, named as the import report should name it. */
export interface RuleText {
  /** Name in the report (path relative to the imported directory, or an uploaded file's name). */
  name: string;
  text: string;
}

/**
 * Reads the predecessor's rule files (YAML with description, query, tags,
 * version; Plum's own format, with `tests`, is accepted too) from `dir` and its
 * sub-folders: see importRuleTexts.
 */
export async function importLegacyRules(dir: string): Promise<LegacyImport> {
  const files = await listRuleFiles(dir, { recursive: true });
  const texts: RuleText[] = [];
  const unreadable: ImportProblem[] = [];
  for (const file of files) {
    const name = path.relative(dir, file) || path.basename(file);
    try {
      texts.push({ name, text: await readFile(file, 'utf8') });
    } catch (e) {
      unreadable.push({ file: name, reason: (e as Error).message });
    }
  }
  const out = importRuleTexts(texts);
  out.invalid.unshift(...unreadable);
  return out;
}

/**
 * Rule files' texts in the predecessor's format (or Plum's) checked one by one
 * (`plum rules import` and the web rules page). A predecessor rule's query and
 * tags are read with the predecessor's meaning (legacy.ts) and each rewrite is
 * noted. Names come from `name:` or the file name; when several files hold the
 * same rule, the newest version wins. A rule's source is its file's name.
 * Nothing is stored here: the caller compares with what it has.
 */
export function importRuleTexts(texts: RuleText[]): LegacyImport {
  const out: LegacyImport = { rules: [], superseded: [], invalid: [], notes: [] };
  const byName = new Map<string, Rule>();
  for (const { name: file, text } of texts) {
    let rule: Rule;
    const notes: string[] = [];
    try {
      const raw = parseRuleYaml(text, file);
      let rewrite;
      try {
        rewrite = rewriteLegacyRule(raw);
      } catch (e) {
        throw new PlumError('invalid_input', `${file}: query: ${(e as Error).message}`);
      }
      if (rewrite) notes.push(...rewrite.notes);
      rule = ruleFromObject(rewrite ? { ...raw, query: rewrite.query, tags: rewrite.tags } : raw, file);
    } catch (e) {
      const msg = e instanceof PlumError ? e.message : String(e);
      out.invalid.push({ file, reason: msg.startsWith(`${file}: `) ? msg.slice(file.length + 2) : msg });
      continue;
    }
    const why = validateRule(rule);
    if (why) {
      out.invalid.push({ file, reason: why });
      continue;
    }
    const prev = byName.get(rule.name);
    if (prev && compareVersions(prev.version, rule.version) >= 0) {
      out.superseded.push({ file, reason: `older than or same as version ${prev.version} of ${rule.name} in ${prev.source}` });
      continue;
    }
    if (prev) {
      out.superseded.push({ file: prev.source, reason: `older than version ${rule.version} of ${rule.name} in ${file}` });
    }
    byName.set(rule.name, rule);
    for (const reason of notes) out.notes.push({ file, reason });
  }
  out.rules = [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  return out;
}
