import ipaddr from 'ipaddr.js';
import type { SearchFields } from '../fields.ts';
import type { CompareOp, QueryNode, TermNode } from './ast.ts';
import { foldCase } from './fold.ts';
import { getField } from './registry.ts';

/** What a term can look at: one port document. */
export interface MatchDoc {
  fields: SearchFields;
  tags: string[];
  score?: number | null;
  /** ISO timestamps. */
  firstSeen?: string | Date | null;
  lastSeen?: string | Date | null;
}

/**
 * Time bounds [start, end) in epoch milliseconds of a normalised date value:
 * a day (`YYYY-MM-DD`, UTC) or one instant (an ISO timestamp). Shared with the
 * SQL compiler so both engines compare against the very same instants.
 */
export function dateBounds(value: string): { start: number; end: number } {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    const start = Date.parse(`${value}T00:00:00Z`);
    return { start, end: start + 86_400_000 };
  }
  const start = Date.parse(value);
  return { start, end: start + 1 };
}

/** `since:` values are normalised to hours (`168h`). */
export function sinceCutoff(value: string, now: Date): number {
  return now.getTime() - Number.parseInt(value, 10) * 3_600_000;
}

/** Integer/date comparison against bounds; `eq` means inside [start, end). */
export function compareBounds(t: number, op: CompareOp, b: { start: number; end: number }): boolean {
  switch (op) {
    case 'eq':
      return t >= b.start && t < b.end;
    case 'gt':
      return t >= b.end;
    case 'gte':
      return t >= b.start;
    case 'lt':
      return t < b.start;
    case 'lte':
      return t < b.end;
  }
}

const toMs = (v: string | Date | null | undefined): number | undefined => {
  if (v === null || v === undefined) return undefined;
  const ms = v instanceof Date ? v.getTime() : Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
};

const intBounds = (v: string) => {
  const n = Number(v);
  return { start: n, end: n + 1 };
};

function parseIp(s: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  try {
    return ipaddr.parse(s.trim());
  } catch {
    return undefined;
  }
}

function ipMatches(entry: string, value: string): boolean {
  const addr = parseIp(entry);
  if (!addr) return false;
  if (value.includes('/')) {
    const [net, bits] = ipaddr.parseCIDR(value);
    return addr.kind() === net.kind() && addr.match(net, bits);
  }
  const v = ipaddr.parse(value);
  return addr.kind() === v.kind() && addr.toNormalizedString() === v.toNormalizedString();
}

/** String matching as SQL does it: fold the case of both sides (foldCase), then equality, prefix or substring. */
function textMatches(entry: string, term: TermNode, value: string, fold = true): boolean {
  const e = fold ? foldCase(entry) : entry;
  if (term.header !== undefined) {
    // http_headval entries are "name: value"; the header part must match whole.
    const head = `${term.header}: `;
    if (!e.startsWith(head)) return false;
    const rest = e.slice(head.length);
    return term.mode === 'exact' ? rest === value : term.mode === 'prefix' ? rest.startsWith(value) : rest.includes(value);
  }
  return term.mode === 'exact' ? e === value : term.mode === 'prefix' ? e.startsWith(value) : e.includes(value);
}

function matchTerm(term: TermNode, doc: MatchDoc, now: Date): boolean {
  const spec = getField(term.field)!;
  const src = spec.source;
  switch (src.kind) {
    case 'tags':
      // Tags are stored lowercased by the rules and compared as stored (the SQL side uses the tags column as is).
      return doc.tags.some((t) => term.values.some((v) => textMatches(t, term, v, false)));
    case 'score': {
      if (doc.score === null || doc.score === undefined) return false;
      return term.values.some((v) => compareBounds(doc.score!, term.op, intBounds(v)));
    }
    case 'first_seen':
    case 'last_seen': {
      const t = toMs(src.kind === 'first_seen' ? doc.firstSeen : doc.lastSeen);
      return t !== undefined && term.values.some((v) => compareBounds(t, term.op, dateBounds(v)));
    }
    case 'since': {
      const t = toMs(doc.lastSeen);
      return t !== undefined && term.values.some((v) => t >= sinceCutoff(v, now));
    }
    case 'after': {
      const t = toMs(doc.lastSeen);
      return t !== undefined && term.values.some((v) => t >= dateBounds(v).start);
    }
    case 'before': {
      const t = toMs(doc.firstSeen);
      return t !== undefined && term.values.some((v) => t < dateBounds(v).start);
    }
    case 'fields': {
      const entries = doc.fields[src.name] ?? [];
      if (spec.type === 'integer') {
        return entries.some((e) => /^\d{1,10}$/.test(e.trim()) && term.values.some((v) => compareBounds(Number(e.trim()), term.op, intBounds(v))));
      }
      if (spec.type === 'cidr' && term.mode === 'exact') return entries.some((e) => term.values.some((v) => ipMatches(e, v)));
      return entries.some((e) => term.values.some((v) => textMatches(e, term, v)));
    }
  }
}

/**
 * Evaluates a query on one port document: the evaluator tag rules use, and the
 * reference the SQL compiler is tested against. `now` anchors `since:`.
 */
export function matchFields(node: QueryNode, doc: MatchDoc, now: Date = new Date()): boolean {
  switch (node.type) {
    case 'term':
      return matchTerm(node, doc, now);
    case 'not':
      return !matchFields(node.child, doc, now);
    case 'and':
      return node.children.every((c) => matchFields(c, doc, now));
    case 'or':
      return node.children.some((c) => matchFields(c, doc, now));
  }
}

/**
 * Host mode (`--by host`): each term holds when some port of the host matches
 * it, so `port:22 http_title.lk:x` finds hosts with SSH on one port and the title
 * on another. `NOT t` holds when no port matches t.
 */
export function matchHost(node: QueryNode, ports: MatchDoc[], now: Date = new Date()): boolean {
  switch (node.type) {
    case 'term':
      return ports.some((p) => matchTerm(node, p, now));
    case 'not':
      return !matchHost(node.child, ports, now);
    case 'and':
      return node.children.every((c) => matchHost(c, ports, now));
    case 'or':
      return node.children.some((c) => matchHost(c, ports, now));
  }
}

/** True when the query contains a time term: it then searches history, not only current observations. */
export function usesTime(node: QueryNode): boolean {
  switch (node.type) {
    case 'term':
      return ['first_seen', 'last_seen', 'since', 'after', 'before'].includes(node.field);
    case 'not':
      return usesTime(node.child);
    default:
      return node.children.some(usesTime);
  }
}
