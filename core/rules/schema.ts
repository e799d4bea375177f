import { createHash } from 'node:crypto';
import { canonicalJson } from '../nmap/fingerprint.ts';
import { z } from 'zod';
import { SEARCH_FIELD_NAMES, type SearchFieldName, type SearchFields } from '../fields.ts';
import { compactTime } from './legacy.ts';

/**
 * The format of one rule file (rules/<name>.yaml). Tags are `namespace:value`,
 * lowercased; the query is the search language without `since:`.
 */
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

const TAG_RE = /^[a-z0-9][a-z0-9_.+-]*:[a-z0-9][a-z0-9_.+/:-]*$/;
export const RULE_NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,99}$/;

const stringList = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v]));
const scalarToString = z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v));

/** A test document: a partial SearchFields (a single value may be written without a list) plus optional tags. */
const testDocSchema = z
  .record(z.string(), z.union([scalarToString, z.array(scalarToString)]))
  .superRefine((doc, ctx) => {
    for (const key of Object.keys(doc)) {
      if (key !== 'tags' && !(SEARCH_FIELD_NAMES as readonly string[]).includes(key)) {
        ctx.addIssue({ code: 'custom', message: `unknown field "${key}" in a test document`, path: [key] });
      }
    }
  })
  .transform((doc) => {
    const out: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(doc)) out[k] = Array.isArray(v) ? v : [v];
    return out as RuleTestDoc;
  });

export type RuleTestDoc = Partial<SearchFields> & { tags?: string[] };

export const ruleFileSchema = z.strictObject({
  name: z.string().regex(RULE_NAME_RE, 'lowercase letters, digits, "-", "_" or "." (at most 100)').optional(),
  description: z.string().trim().min(1),
  query: z.string().trim().min(1),
  tags: stringList.pipe(z.array(z.string().trim().toLowerCase().regex(TAG_RE, 'tags are namespace:value (e.g. product:openssh)')).min(1)),
  /** A timestamp (ISO date or number); newer versions replace older ones on import. */
  version: scalarToString,
  severity: z.enum(SEVERITIES).optional(),
  references: stringList.optional(),
  enabled: z.boolean().optional(),
  tests: z
    .strictObject({
      match: z.array(testDocSchema).min(1, 'at least one document the rule must match'),
      no_match: z.array(testDocSchema).min(1, 'at least one document the rule must not match'),
    })
    .optional(),
});

export type RuleFile = z.output<typeof ruleFileSchema>;

export interface Rule {
  name: string;
  description: string;
  query: string;
  tags: string[];
  version: string;
  severity?: Severity;
  references: string[];
  enabled: boolean;
  tests?: { match: RuleTestDoc[]; no_match: RuleTestDoc[] };
  /** Where the rule came from (file path, or `db`). */
  source: string;
  /** SHA-256 of the canonical rule content (query, tags, enabled...): what `rules apply` compares. */
  hash: string;
}

/**
 * Hash of what decides a rule's effect on documents. Description, references
 * and tests do not change any stored tag, so editing them does not trigger a re-apply.
 */
export function ruleHash(r: Pick<Rule, 'query' | 'tags' | 'enabled'>): string {
  const body = canonicalJson({ query: r.query, tags: [...r.tags].sort(), enabled: r.enabled });
  return createHash('sha256').update(body).digest('hex');
}

export function toRule(file: RuleFile, name: string, source: string): Rule {
  const tags = [...new Set(file.tags)];
  const enabled = file.enabled ?? true;
  return {
    name,
    description: file.description,
    query: file.query,
    tags,
    version: file.version,
    severity: file.severity,
    references: file.references ?? [],
    enabled,
    tests: file.tests,
    source,
    hash: ruleHash({ query: file.query, tags, enabled }),
  };
}

/** A version as a time: ISO dates and date-times, and the predecessor's compact form (`20260520T133458Z`). */
function versionTime(s: string): number {
  const t = Date.parse(s);
  return Number.isNaN(t) ? compactTime(s) : t;
}

/** Compares two version strings: numbers numerically, dates by time (ISO or compact), otherwise text. */
export function compareVersions(a: string, b: string): number {
  const num = (s: string) => (/^\d+(\.\d+)?$/.test(s.trim()) ? Number(s) : NaN);
  const na = num(a);
  const nb = num(b);
  if (!Number.isNaN(na) && !Number.isNaN(nb)) return Math.sign(na - nb);
  const da = versionTime(a);
  const db = versionTime(b);
  if (!Number.isNaN(da) && !Number.isNaN(db)) return Math.sign(da - db);
  return a < b ? -1 : a > b ? 1 : 0;
}

export function isSearchField(name: string): name is SearchFieldName {
  return (SEARCH_FIELD_NAMES as readonly string[]).includes(name);
}
