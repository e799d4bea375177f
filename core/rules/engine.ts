import type { SearchFields } from '../fields.ts';
import { PlumError } from '../errors.ts';
import { collectTerms, type QueryNode, type TermNode } from '../query/ast.ts';
import { getField, matchFields, parseQuery } from '../query/index.ts';
import type { SearchFieldName } from '../fields.ts';
import type { FaviconDb } from './favicon-db.ts';
import { factTags } from './facts.ts';
import type { Rule } from './schema.ts';

export interface CompiledRule extends Rule {
  node: QueryNode;
  /** Names of the rules whose tags this rule's `tag:` terms can see (evaluated before it). */
  dependsOn: string[];
  /**
   * Fields of which at least one must be non-empty for the rule to possibly
   * match (null: no such shortcut). Skips most rules on most documents cheaply.
   */
  guard: SearchFieldName[] | null;
}

/** A necessary condition of a query: one of these fields is non-empty (see CompiledRule.guard). */
export function queryGuard(node: QueryNode): SearchFieldName[] | null {
  switch (node.type) {
    case 'term': {
      const spec = getField(node.field);
      return spec?.source.kind === 'fields' ? [spec.source.name] : null;
    }
    case 'not':
      return null;
    case 'and': {
      // Every child must hold: any child's guard is a guard; keep the narrowest.
      let best: SearchFieldName[] | null = null;
      for (const c of node.children) {
        const g = queryGuard(c);
        if (g && (!best || g.length < best.length)) best = g;
      }
      return best;
    }
    case 'or': {
      const all = new Set<SearchFieldName>();
      for (const c of node.children) {
        const g = queryGuard(c);
        if (!g) return null;
        for (const f of g) all.add(f);
      }
      return [...all];
    }
  }
}

/** Rules ready to evaluate, in dependency order (a rule comes after every rule whose tags it reads). */
export interface RuleSet {
  rules: CompiledRule[];
  byName: Map<string, CompiledRule>;
  favicons?: FaviconDb;
}

export interface Evaluation {
  /** Fact tags, then the tags of the matching rules, deduplicated, sorted. */
  tags: string[];
  /** Names of the matching rules, in evaluation order. */
  rules: string[];
}

function tagTermMatches(term: TermNode, tag: string): boolean {
  return term.values.some((v) => (term.mode === 'prefix' ? tag.startsWith(v) : term.mode === 'substring' ? tag.includes(v) : tag === v));
}

export function parseRuleQuery(rule: Pick<Rule, 'name' | 'query' | 'source'>): QueryNode {
  try {
    return parseQuery(rule.query);
  } catch (e) {
    const err = e as PlumError;
    throw new PlumError(err.code === 'syntax' ? 'invalid_input' : (err.code ?? 'invalid_input'), `rule ${rule.name} (${rule.source}): ${err.message}`, {
      hint: err.hint,
      details: err.details,
      cause: e,
    });
  }
}

/** Terms that make no sense in a tag rule: time windows and the score are properties of history, not of a document. */
export const RULE_FORBIDDEN_FIELDS: ReadonlySet<string> = new Set(['since', 'after', 'before', 'first_seen', 'last_seen', 'score']);

/**
 * Parses every rule's query, links `tag:` terms to the rules that produce such
 * tags, and orders the rules so that producers run first. Refuses cycles and
 * duplicate names with a one-line error naming the rules involved.
 */
export function compileRules(rules: readonly Rule[], opts: { favicons?: FaviconDb } = {}): RuleSet {
  const seen = new Set<string>();
  for (const r of rules) {
    if (seen.has(r.name)) throw new PlumError('invalid_input', `two rules are named ${r.name}`, { hint: 'rename one of them' });
    seen.add(r.name);
  }
  const active = rules.filter((r) => r.enabled);
  const parsed = active.map((r) => {
    const node = parseRuleQuery(r);
    const terms = collectTerms(node);
    const bad = terms.find((t) => RULE_FORBIDDEN_FIELDS.has(t.field));
    if (bad) {
      throw new PlumError('invalid_input', `rule ${r.name} (${r.source}): "${bad.field}" cannot be used in a rule`, {
        hint: 'rules judge one document; time windows and the score belong to searches',
      });
    }
    return { rule: r, node, tagTerms: terms.filter((t) => t.field === 'tag') };
  });
  const deps = new Map<string, string[]>();
  for (const p of parsed) {
    const d = parsed
      .filter((q) => p.tagTerms.some((t) => q.rule.tags.some((tag) => tagTermMatches(t, tag))))
      .map((q) => q.rule.name)
      .sort();
    deps.set(p.rule.name, d);
  }
  // Kahn's algorithm with a name-ordered queue: the order is deterministic.
  const indeg = new Map(parsed.map((p) => [p.rule.name, deps.get(p.rule.name)!.length]));
  const users = new Map<string, string[]>();
  for (const [name, ds] of deps) for (const d of ds) users.set(d, [...(users.get(d) ?? []), name]);
  const ready = [...indeg]
    .filter(([, n]) => n === 0)
    .map(([name]) => name)
    .sort();
  const order: string[] = [];
  while (ready.length > 0) {
    const name = ready.shift()!;
    order.push(name);
    for (const u of users.get(name) ?? []) {
      const n = indeg.get(u)! - 1;
      indeg.set(u, n);
      if (n === 0) {
        ready.push(u);
        ready.sort();
      }
    }
  }
  if (order.length < parsed.length) {
    const stuck = [...indeg]
      .filter(([, n]) => n > 0)
      .map(([name]) => name)
      .sort();
    throw new PlumError('invalid_input', `rules depend on each other's tags in a cycle: ${stuck.join(', ')}`, {
      hint: 'a rule cannot read (tag:...) a tag it produces itself, directly or through other rules',
      details: { rules: stuck },
    });
  }
  const byParsed = new Map(parsed.map((p) => [p.rule.name, p]));
  const compiled = order.map((name) => {
    const p = byParsed.get(name)!;
    return { ...p.rule, node: p.node, dependsOn: deps.get(name)!, guard: queryGuard(p.node) } satisfies CompiledRule;
  });
  return { rules: compiled, byName: new Map(compiled.map((r) => [r.name, r])), favicons: opts.favicons };
}

/** Fact tags that depend on the time a document is judged at (certificate validity). */
export const TIME_FACT_TAGS = ['x509:expired', 'x509:expiring-soon', 'x509:not-yet-valid'] as const;

/**
 * Rules whose result can depend on the judging time: those reading a
 * time-dependent fact tag, and the rules reading their tags in turn.
 */
export function timeDependentRules(set: RuleSet): Set<string> {
  const out = new Set<string>();
  for (const r of set.rules) {
    const reads = collectTerms(r.node).filter((t) => t.field === 'tag');
    if (reads.some((t) => TIME_FACT_TAGS.some((tag) => tagTermMatches(t, tag))) || r.dependsOn.some((d) => out.has(d))) {
      out.add(r.name);
    }
  }
  return out;
}

export interface EvaluateOptions {
  /** The scan time the document is judged at (certificate validity). */
  at: Date;
  /** Only these rules run (in set order); the others are skipped. */
  only?: ReadonlySet<string>;
  /** Rule names already known to hold (incremental apply): their tags are added without re-running them. */
  keepRules?: readonly string[];
  /** Tags given from outside (rule test documents). */
  extraTags?: readonly string[];
}

/**
 * Runs the rule set on one document's fields. Fact tags come first; each rule
 * sees the tags of the rules before it, so `tag:` terms work across rules.
 */
export function evaluateRules(set: RuleSet, fields: SearchFields, opts: EvaluateOptions): Evaluation {
  const tags = factTags(fields, { favicons: set.favicons, at: opts.at });
  for (const t of opts.extraTags ?? []) if (!tags.includes(t)) tags.push(t);
  const kept = new Set<string>();
  for (const name of opts.keepRules ?? []) {
    const r = set.byName.get(name);
    if (!r) continue;
    kept.add(name);
    for (const t of r.tags) if (!tags.includes(t)) tags.push(t);
  }
  const doc = { fields, tags };
  // Walk the set in its (dependency) order so `rules` comes out in that order.
  const matched: string[] = [];
  for (const r of set.rules) {
    if (kept.has(r.name)) {
      matched.push(r.name);
      continue;
    }
    if (opts.only && !opts.only.has(r.name)) continue;
    if (r.guard && !r.guard.some((f) => (fields[f]?.length ?? 0) > 0)) continue;
    if (matchFields(r.node, doc)) {
      matched.push(r.name);
      for (const t of r.tags) if (!tags.includes(t)) tags.push(t);
    }
  }
  return { tags: tags.sort(), rules: matched };
}

/**
 * The ingest hook (`IngestDeps.tagPort`, given a ParsedPort): tags one parsed port with the rule set.
 * `now` gives the time certificates are judged at (the ingest clock by default).
 */
export function createPortTagger(set: RuleSet, opts: { now?: () => Date } = {}): (p: { fields: SearchFields }) => Evaluation {
  const now = opts.now ?? (() => new Date());
  return (p) => evaluateRules(set, p.fields, { at: now() });
}
