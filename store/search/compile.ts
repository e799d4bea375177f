import { sql, type SQL } from 'drizzle-orm';
import type { QueryNode, TermNode } from '../../core/query/ast.ts';
import { dateBounds, sinceCutoff } from '../../core/query/evaluate.ts';
import { getField } from '../../core/query/registry.ts';
import { HOT_FIELDS, SEP } from './columns.ts';

/**
 * Compiles a query tree into a SQL condition on `port_observations` (alias
 * `po`, read through observationsFrom so that time terms see last_seen). It
 * is the SQL twin of `matchFields` (core/query/evaluate.ts); a test
 * runs one corpus through both on both drivers and requires identical results.
 *
 * - text terms: a regular expression over `search_text` (`␁field=value␁...`,
 *   case-folded by plum_fold, trigram GIN index): exact `␁f=v␁`, prefix `␁f=v`,
 *   substring `␁f=[^␁]*v`. pg_trgm extracts trigrams from the pattern, so the
 *   index narrows the rows before the regex is checked (no scan of every value).
 * - `ip`/`net`: inet equality and `<<=`, both served by the btree indexes led by ip (`<<=` as a range).
 * - `port`: integer column; `score`: the document's row in observation_scores (indexed copy); `tag`: the document's row in observation_tags (a narrow copy of
 *   `tags`, so that re-tagging leaves the wide row's indexes alone): the tags array (GIN) or
 *   plum_tags_text(tags) for prefix/substring (trigram index).
 * - dates: timestamps computed once in JavaScript (dateBounds, sinceCutoff) so
 *   both engines compare against the same instants.
 */
export interface CompileOptions {
  now: Date;
  /** Table alias; default `po`. */
  alias?: string;
}

/**
 * `port_observations` as alias `a` with its sighting columns (last_seen, times_seen, checked_at, last run/job:
 * store/schema/observation-sightings.ts) as alias `a_s`. Every query that compiles terms for alias `a` reads
 * from this. A left join by default: PostgreSQL drops it when the query reads nothing of `a_s`, and turns it
 * into an inner join when a condition needs `a_s`. `inner` lets the planner walk `a_s`'s last_seen index
 * first (paging newest first). Text, for queries written as strings with $n parameters.
 */
export function observationsFromText(a = 'po', join: 'left' | 'inner' = 'left'): string {
  return `port_observations ${a} ${join} join observation_sightings ${a}_s on ${a}_s.id = ${a}.id`;
}

/** observationsFromText as a drizzle SQL fragment. */
export const observationsFrom = (a = 'po', join: 'left' | 'inner' = 'left'): SQL => sql.raw(observationsFromText(a, join));

/** The SQL reference of a sighting column for alias `a` (see observationsFrom). */
export const sightingCol = (a: string, name: 'last_seen' | 'times_seen' | 'checked_at' | 'last_run_id' | 'last_job_id') => `${a}_s.${name}`;

/** Escapes a literal for a PostgreSQL ARE: a backslash before any non-alphanumeric character is literal. */
export function regexEscape(s: string): string {
  return s.replace(/[^\p{L}\p{N} ]/gu, (c) => (c === SEP ? ' ' : `\\${c}`));
}

function textPattern(term: TermNode, name: string, values: string[]): string {
  const alt = values.map(regexEscape);
  const body = alt.length === 1 ? alt[0]! : `(?:${alt.join('|')})`;
  const head = term.header !== undefined ? `${regexEscape(term.header)}: ` : '';
  const start = `${SEP}${name}=${head}`;
  switch (term.mode) {
    case 'exact':
      return `${start}${body}${SEP}`;
    case 'prefix':
      return `${start}${body}`;
    case 'substring':
      return `${start}[^${SEP}]*${body}`;
  }
}

function tagPattern(term: TermNode): string {
  const alt = term.values.map(regexEscape);
  const body = alt.length === 1 ? alt[0]! : `(?:${alt.join('|')})`;
  return term.mode === 'prefix' ? `${SEP}${body}` : `${SEP}[^${SEP}]*${body}`;
}

/** Escapes a literal for LIKE (backslash is the default escape character). */
export function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`).replaceAll(SEP, ' ');
}

/**
 * A hot field's own column holds `␁v1␁v2␁`. LIKE patterns with no `␁` between
 * wildcards cannot span two values: `%v%` (substring), `%␁v%` (prefix),
 * `%␁v␁%` (exact). A header-scoped substring (`http_headval:server.lk:x`) adds a
 * regular expression, on this short column only.
 */
function hotFieldMatch(column: SQL, term: TermNode): SQL {
  const head = term.header !== undefined ? `${term.header}: ` : '';
  const parts = term.values.map((v) => {
    const e = likeEscape(v);
    switch (term.mode) {
      case 'exact':
        return sql`${column} like ${`%${SEP}${likeEscape(head)}${e}${SEP}%`}`;
      case 'prefix':
        return sql`${column} like ${`%${SEP}${likeEscape(head)}${e}%`}`;
      case 'substring':
        if (!head) return sql`${column} like ${`%${e}%`}`;
        return sql`(${column} like ${`%${e}%`} and ${column} ~ ${`${SEP}${regexEscape(head)}[^${SEP}]*${regexEscape(v)}`})`;
    }
  });
  return parts.length === 1 ? parts[0]! : sql`(${sql.join(parts, sql` or `)})`;
}

const CMP: Record<TermNode['op'], string> = { eq: '=', gt: '>', gte: '>=', lt: '<', lte: '<=' };

function intCompare(col: SQL, term: TermNode): SQL {
  if (term.op === 'eq') {
    return term.values.length === 1
      ? sql`${col} = ${Number(term.values[0])}`
      : sql`${col} in (${sql.join(
          term.values.map((v) => sql`${Number(v)}`),
          sql`, `,
        )})`;
  }
  return sql`${col} ${sql.raw(CMP[term.op])} ${Number(term.values[0])}`;
}

function timeCompare(col: SQL, term: TermNode): SQL {
  const parts = term.values.map((v) => {
    const b = dateBounds(v);
    const start = new Date(b.start).toISOString();
    const end = new Date(b.end).toISOString();
    switch (term.op) {
      case 'eq':
        return sql`(${col} >= ${start}::timestamptz and ${col} < ${end}::timestamptz)`;
      case 'gt':
        return sql`${col} >= ${end}::timestamptz`;
      case 'gte':
        return sql`${col} >= ${start}::timestamptz`;
      case 'lt':
        return sql`${col} < ${start}::timestamptz`;
      case 'lte':
        return sql`${col} < ${end}::timestamptz`;
    }
  });
  return parts.length === 1 ? parts[0]! : sql`(${sql.join(parts, sql` or `)})`;
}

function addressMatch(ip: SQL, term: TermNode): SQL {
  const parts = term.values.map((v) => (v.includes('/') ? sql`${ip} <<= ${v}::inet` : sql`${ip} = ${v}::inet`));
  return parts.length === 1 ? parts[0]! : sql`(${sql.join(parts, sql` or `)})`;
}

function compileTerm(term: TermNode, opts: CompileOptions): SQL {
  const a = opts.alias ?? 'po';
  const col = (name: string) => sql.raw(`${a}.${name}`);
  const lastSeen = sql.raw(sightingCol(a, 'last_seen'));
  const spec = getField(term.field)!;
  const src = spec.source;
  switch (src.kind) {
    case 'tags': {
      // The tag indexes are on observation_tags (a row per tagged document): an untagged document has no row
      // there, and matches no tag term, as in matchFields.
      const t = sql.raw(`${a}_t`);
      let match: SQL;
      if (term.mode === 'exact') {
        const arr = sql`array[${sql.join(
          term.values.map((v) => sql`${v}`),
          sql`, `,
        )}]::text[]`;
        match = term.values.length === 1 ? sql`${t}.tags @> ${arr}` : sql`${t}.tags && ${arr}`;
      } else {
        match = sql`plum_tags_text(${t}.tags) ~ ${tagPattern(term)}`;
      }
      return sql`exists (select 1 from observation_tags ${t} where ${t}.id = ${col('id')} and ${match})`;
    }
    case 'score': {
      // The score's index is on observation_scores (a row per document, same score).
      const sc = sql.raw(`${a}_sct`);
      return sql`exists (select 1 from observation_scores ${sc} where ${sc}.id = ${col('id')} and ${intCompare(sql`${sc}.score`, term)})`;
    }
    case 'first_seen':
      return timeCompare(col('first_seen'), term);
    case 'last_seen':
      return timeCompare(lastSeen, term);
    case 'since': {
      const cut = Math.min(...term.values.map((v) => sinceCutoff(v, opts.now)));
      return sql`${lastSeen} >= ${new Date(cut).toISOString()}::timestamptz`;
    }
    case 'after': {
      const cut = Math.min(...term.values.map((v) => dateBounds(v).start));
      return sql`${lastSeen} >= ${new Date(cut).toISOString()}::timestamptz`;
    }
    case 'before': {
      const cut = Math.max(...term.values.map((v) => dateBounds(v).start));
      return sql`${col('first_seen')} < ${new Date(cut).toISOString()}::timestamptz`;
    }
    case 'fields': {
      if (src.name === 'port') return intCompare(col('port'), term);
      if (spec.type === 'integer') {
        // Integer compare over a jsonb list (x509_key_bits): non-numbers never match.
        const v = sql.raw('v');
        const num = sql`(case when ${v} ~ '^\\s*[0-9]{1,10}\\s*$' then trim(${v})::bigint end)`;
        return sql`exists (select 1 from jsonb_array_elements_text(${col('fields')} -> ${src.name}) as x(v) where ${intCompare(num, term)})`;
      }
      if (spec.type === 'cidr' && term.mode === 'exact') return addressMatch(col('ip'), term);
      if (HOT_FIELDS.has(src.name)) return hotFieldMatch(col(`s_${src.name}`), term);
      return sql`${col('search_text')} ~ ${textPattern(term, src.name, term.values)}`;
    }
  }
}

/** The WHERE condition for one port document matching the tree. */
export function compileWhere(node: QueryNode, opts: CompileOptions): SQL {
  switch (node.type) {
    case 'term':
      return compileTerm(node, opts);
    case 'not':
      return sql`not (${compileWhere(node.child, opts)})`;
    case 'and':
      return sql`(${sql.join(
        node.children.map((c) => compileWhere(c, opts)),
        sql` and `,
      )})`;
    case 'or':
      return sql`(${sql.join(
        node.children.map((c) => compileWhere(c, opts)),
        sql` or `,
      )})`;
  }
}

/**
 * A condition on a document's address and port alone, for observation_scores (alias `a`), which copies both:
 * every document matching the tree satisfies it, or the result is undefined when the tree implies none (a
 * NOT, or an OR with a branch that says nothing of them). A walk by score checks it in the index, so documents
 * it rules out cost an index entry instead of a read of their wide row.
 */
export function compileIdentity(node: QueryNode, a: string): SQL | undefined {
  switch (node.type) {
    case 'term': {
      const spec = getField(node.field)!;
      if (spec.source.kind !== 'fields') return undefined;
      if (spec.source.name === 'port') return intCompare(sql.raw(`${a}.port`), node);
      if (spec.type === 'cidr' && node.mode === 'exact') return addressMatch(sql.raw(`${a}.ip`), node);
      return undefined;
    }
    case 'not':
      return undefined;
    case 'and': {
      const parts = node.children.map((c) => compileIdentity(c, a)).filter((c): c is SQL => c !== undefined);
      return parts.length ? sql`(${sql.join(parts, sql` and `)})` : undefined;
    }
    case 'or':
      return anyOf(node.children.map((c) => compileIdentity(c, a)));
  }
}

/** The OR of conditions that must all be known; undefined when one is not (or there are none). */
export function anyOf(parts: (SQL | undefined)[]): SQL | undefined {
  if (!parts.length || parts.some((p) => p === undefined)) return undefined;
  return sql`(${sql.join(parts as SQL[], sql` or `)})`;
}

/** Rows searched: current open ports, or every observation (history) when the query is about time. */
export function scopeWhere(scope: 'current' | 'history', alias = 'po'): SQL {
  return scope === 'current' ? sql.raw(`(${alias}.current and ${alias}.state = 'open')`) : sql.raw('true');
}

/**
 * Host mode (`--by host`): a condition on the host of row `ipRef` that holds
 * when its in-scope ports satisfy the tree with each term matched by any port
 * (the twin of `matchHost`). Each term is an EXISTS on the same IP, which the
 * planner can turn into index-driven semi-joins starting from the most
 * selective term, instead of materialising one IP set per term.
 */
export function compileHostCond(node: QueryNode, opts: CompileOptions, scope: 'current' | 'history', ipRef = 'po.ip'): SQL {
  let n = 0;
  const rec = (x: QueryNode): SQL => {
    switch (x.type) {
      case 'term': {
        const alias = `h${++n}`;
        return sql`exists (select 1 from ${observationsFrom(alias)} where ${sql.raw(`${alias}.ip`)} = ${sql.raw(ipRef)} and ${scopeWhere(scope, alias)} and ${compileTerm(x, { ...opts, alias })})`;
      }
      case 'not':
        return sql`not (${rec(x.child)})`;
      case 'and':
        return sql`(${sql.join(x.children.map(rec), sql` and `)})`;
      case 'or':
        return sql`(${sql.join(x.children.map(rec), sql` or `)})`;
    }
  };
  return rec(node);
}

/** True when the tree has a NOT (then a matching host may have no port matching a positive term). */
export function hasNegation(node: QueryNode): boolean {
  if (node.type === 'term') return false;
  if (node.type === 'not') return true;
  return node.children.some(hasNegation);
}

/** Terms under an even number of NOTs: the ports that made a host match, shown in host mode. */
export function positiveTerms(node: QueryNode, negated = false, out: TermNode[] = []): TermNode[] {
  if (node.type === 'term') {
    if (!negated) out.push(node);
  } else if (node.type === 'not') positiveTerms(node.child, !negated, out);
  else for (const c of node.children) positiveTerms(c, negated, out);
  return out;
}

export { compileTerm };
