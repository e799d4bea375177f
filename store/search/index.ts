import { createHash } from 'node:crypto';
import { sql, type SQL } from 'drizzle-orm';
import ipaddr from 'ipaddr.js';
import { PlumError } from '../../core/errors.ts';
import type { QueryNode, TermNode } from '../../core/query/ast.ts';
import { getField } from '../../core/query/registry.ts';
import { queryToString } from '../../core/query/ast.ts';
import { usesTime } from '../../core/query/evaluate.ts';
import { parseQuery } from '../../core/query/parse.ts';
import type { StoreSession } from '../index.ts';
import type { ObservationRow } from '../repos/observation-rows.ts';
import { compileHostCond, compileTerm, compileWhere, hasNegation, observationsFrom, positiveTerms, scopeWhere, sightingCol } from './compile.ts';

export type SearchBy = 'port' | 'host';
export type SearchSort = 'last_seen' | 'score';
export type SearchScope = 'current' | 'history';

export interface SearchOptions {
  /** `port` (default): a group of terms matches one port; `host`: terms may match different ports of a host. */
  by?: SearchBy;
  /** Free-text search over whole documents (websearch syntax) instead of the structured language. */
  token?: boolean;
  /** IPs per page (default 50, at most 1000). */
  limit?: number;
  /** Opaque cursor from a previous page's `nextCursor`. */
  cursor?: string;
  sort?: SearchSort;
  /** Default: `current` (open ports now), or `history` when the query has a time term (since:, before:...). */
  scope?: SearchScope;
  /** Anchors `since:`; default now. */
  now?: Date;
  /** Token search served elsewhere (Meilisearch): returns matching observation ids in rank order. */
  tokenBackend?: TokenBackend;
  /**
   * Sightings read by the first window of a newest-first walk (default: 1500, see newestFirst). Tuning only;
   * the results do not depend on it (tests set it small so that small data takes every path).
   */
  walkWindow?: number;
}

export interface TokenBackend {
  name: string;
  /** Observation ids matching `q`, best first, skipping `offset`. */
  searchIds(q: string, offset: number, limit: number): Promise<{ ids: string[]; estimatedTotal?: number }>;
}

export interface PortHit {
  id: string;
  protocol: string;
  port: number;
  state: string;
  hsh256: string;
  tags: string[];
  score: number;
  first_seen: string;
  last_seen: string;
  service?: string;
  product?: string;
  title?: string;
}

export interface HostHit {
  ip: string;
  first_seen: string;
  last_seen: string;
  score: number;
  tags: string[];
  ports: PortHit[];
}

export interface SearchResult {
  query: string;
  mode: 'structured' | 'token';
  by: SearchBy;
  scope: SearchScope;
  sort: SearchSort;
  hosts: HostHit[];
  /** Present when more results follow. */
  nextCursor?: string;
  backend: string;
}

interface Cursor {
  /** Hash of the query and options the cursor belongs to. */
  h: string;
  /** Sort key of the last IP returned (text form), and that IP. */
  k: string;
  ip: string;
  /** Token backends page by offset. */
  o?: number;
}

const MAX_LIMIT = 1000;

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

const CURSOR_KEY: Record<SearchSort | 'backend', RegExp> = {
  last_seen: /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/,
  score: /^-?\d{1,9}$/,
  backend: /^[A-Za-z0-9_-]{0,200000}$/,
};
const validIp = (ip: string) => /^[0-9a-fA-F.:]{2,45}$/.test(ip) && (ipaddr.IPv4.isValidFourPartDecimal(ip) || (ip.includes(':') && ipaddr.IPv6.isValid(ip)));
/** A calendar time JavaScript and PostgreSQL read alike (no 31 February). */
const realTimestamp = (k: string) => {
  const t = Date.parse(k);
  return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 19) === k.slice(0, 19);
};

/**
 * A cursor is opaque to clients but may be hand-made: every field is checked
 * here (the sort key's form, the address, the offset), so a forged one is a
 * 400, never a failed cast in SQL.
 */
function decodeCursor(s: string, h: string, key: SearchSort | 'backend'): Cursor {
  const invalid = () => new PlumError('usage', 'invalid cursor', { hint: 'pass the nextCursor value of the previous page unchanged' });
  let c: Cursor;
  try {
    c = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Cursor;
  } catch {
    throw invalid();
  }
  if (!c || typeof c !== 'object' || typeof c.k !== 'string' || typeof c.ip !== 'string' || typeof c.h !== 'string') throw invalid();
  if (c.h !== h)
    throw new PlumError('usage', 'this cursor belongs to another query', { hint: 'repeat the same query and options with the cursor, or drop --cursor' });
  if (!CURSOR_KEY[key].test(c.k)) throw invalid();
  if (key === 'backend') {
    if (c.ip !== '' || !Number.isSafeInteger(c.o) || c.o! < 0) throw invalid();
    try {
      const seen = JSON.parse(Buffer.from(c.k, 'base64url').toString() || '[]') as unknown;
      if (!Array.isArray(seen) || !seen.every((x) => typeof x === 'string')) throw invalid();
    } catch {
      throw invalid();
    }
  } else if (!validIp(c.ip) || (key === 'last_seen' && !realTimestamp(c.k)) || c.o !== undefined) {
    throw invalid();
  }
  return c;
}

const KEY_TEXT: Record<SearchSort, string> = {
  last_seen: `to_char(%s at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
  score: '%s::text',
};
const KEY_CAST: Record<SearchSort, string> = { last_seen: 'timestamptz', score: 'int' };

const MAX_TOKEN_QUERY_CHARS = 1000;
const MAX_TOKEN_QUERY_WORDS = 64;

/**
 * Bounds a token (websearch) query before PostgreSQL sees it: every `-` is a
 * NOT nested in the previous one, and a few hundred of them overflow the
 * tsquery stack. A run of dashes becomes one; length and words are capped.
 */
export function normaliseTokenQuery(text: string): string {
  const q = splitPaths(text.replace(/(?:-\s*){2,}/g, '-')).trim();
  if (q.length > MAX_TOKEN_QUERY_CHARS) {
    throw new PlumError('usage', `token query longer than ${MAX_TOKEN_QUERY_CHARS} characters`, { hint: 'search for fewer words' });
  }
  if (q.split(/\s+/).length > MAX_TOKEN_QUERY_WORDS) {
    throw new PlumError('usage', `token query of more than ${MAX_TOKEN_QUERY_WORDS} words`, { hint: 'search for fewer words' });
  }
  return q;
}

/**
 * The document's token vector reads every `/` as a space (schema: `search_tsv`), so a query must too: an
 * unquoted word with a slash becomes the phrase of its parts (`nginx/1.22.1` → `"nginx 1.22.1"`, its parts
 * adjacent as in the document), and a slash inside quotes becomes a space.
 */
function splitPaths(text: string): string {
  return text.replace(/"[^"]*"?|[^\s"]+/g, (part) => {
    if (!part.includes('/')) return part;
    if (part.startsWith('"')) return part.replaceAll('/', ' ');
    const negated = part.startsWith('-');
    const words = (negated ? part.slice(1) : part).split('/').filter(Boolean).join(' ');
    return words ? `${negated ? '-' : ''}"${words}"` : ' ';
  });
}

/** Parses (or accepts) a query and runs it. Syntax errors are PlumError 'syntax'. */
export async function searchPorts(store: StoreSession, query: string | QueryNode, opts: SearchOptions = {}): Promise<SearchResult> {
  const limit = opts.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new PlumError('usage', `--limit must be a whole number from 1 to ${MAX_LIMIT}`, { hint: 'page with --cursor for more' });
  }
  if (opts.walkWindow !== undefined && (!Number.isInteger(opts.walkWindow) || opts.walkWindow < 1)) {
    throw new PlumError('usage', 'walkWindow must be a positive whole number');
  }
  const by = opts.by ?? 'port';
  const sort = opts.sort ?? 'last_seen';
  const now = opts.now ?? new Date();

  if (opts.token) {
    const q = normaliseTokenQuery(typeof query === 'string' ? query : queryToString(query));
    if (!q) throw new PlumError('usage', 'empty token query', { hint: 'give words to search for, e.g. plum search --token "openssh debian"' });
    const h = hashOf(['token', q, sort, opts.tokenBackend?.name ?? 'pg']);
    const cursor = opts.cursor ? decodeCursor(opts.cursor, h, opts.tokenBackend ? 'backend' : sort) : undefined;
    if (opts.tokenBackend) return tokenViaBackend(store, q, opts.tokenBackend, limit, h, cursor, sort);
    const probe = await store.query<{ ok: boolean }>(sql`select numnode(websearch_to_tsquery('simple', ${q})) > 0 as ok`);
    if (!probe[0]?.ok) throw new PlumError('usage', `nothing to search for in '${q}'`, { hint: 'give words or numbers (punctuation alone is ignored)' });
    const cond = sql`${scopeWhere('current')} and po.search_tsv @@ websearch_to_tsquery('simple', ${q})`;
    const page = await pageByPort(store, cond, sort, limit, cursor, opts.walkWindow);
    return finish({ query: q, mode: 'token', by: 'port', scope: 'current', sort, backend: 'postgres' }, store, cond, page, h, limit);
  }

  const tree = typeof query === 'string' ? parseQuery(query) : query;
  const text = queryToString(tree);
  const scope: SearchScope = opts.scope ?? (usesTime(tree) ? 'history' : 'current');
  const h = hashOf(['structured', text, by, sort, scope, by === 'port' && !usesTime(tree) ? '' : now.toISOString().slice(0, 13)]);
  const cursor = opts.cursor ? decodeCursor(opts.cursor, h, sort) : undefined;
  const meta = { query: text, mode: 'structured' as const, by, scope, sort, backend: 'postgres' };

  if (by === 'host') {
    const hostCond = compileHostCond(tree, { now }, scope);
    const pos = positiveTerms(tree);
    const anyPositive = (alias: string) =>
      sql.join(
        pos.map((t) => compileTerm(t, { now, alias })),
        sql` or `,
      );
    // Ports shown: those matching a positive term. Only with a NOT can a host match with none of those;
    // it then shows all its ports.
    const shown = !pos.length
      ? sql.raw('true')
      : hasNegation(tree)
        ? sql`((${anyPositive('po')}) or not exists (select 1 from ${observationsFrom('q')} where q.ip = po.ip and ${scopeWhere(scope, 'q')} and (${anyPositive('q')})))`
        : sql`(${anyPositive('po')})`;
    // Drive the host set from one selective conjunct when the query is an AND (or one term): every
    // matching host has a port matching it, so the planner starts from its index instead of all rows.
    const driver = pickDriver(tree);
    // The driver row itself satisfies the driver's own EXISTS, so only the other conjuncts are checked on its host.
    const rest = driver && tree.type === 'and' ? tree.children.filter((c) => c !== driver) : [];
    const restCond = rest.length ? sql` and ${compileHostCond(rest.length === 1 ? rest[0]! : { type: 'and', children: rest }, { now }, scope, 'd.ip')}` : sql``;
    const cond = driver
      ? sql`${scopeWhere(scope)} and ${shown} and po.ip in (select d.ip from ${observationsFrom('d')} where ${scopeWhere(scope, 'd')} and ${compileTerm(driver, { now, alias: 'd' })}${restCond})`
      : sql`${scopeWhere(scope)} and ${shown} and ${hostCond}`;
    // Same paging as port mode over the ports shown: a host's key is the newest (best) of them.
    const page = await pageByPort(store, cond, sort, limit, cursor, opts.walkWindow);
    // The page's hosts already satisfy the host condition: loading their ports needs only the shown ones.
    return finish(meta, store, sql`${scopeWhere(scope)} and ${shown}`, page, h, limit);
  }

  const cond = sql`${scopeWhere(scope)} and ${compileWhere(tree, { now })}`;
  const page = await pageByPort(store, cond, sort, limit, cursor, opts.walkWindow);
  return finish(meta, store, cond, page, h, limit);
}

/** How narrow a term usually is: text terms (trigram indexes) first, then tags and networks; numbers and dates last. */
function driverRank(t: TermNode): number {
  const spec = getField(t.field)!;
  if (spec.source.kind === 'fields' && spec.type !== 'integer' && spec.type !== 'cidr') return 0;
  if (spec.source.kind === 'tags') return 1;
  if (spec.type === 'cidr') return 2;
  return 3;
}

function pickDriver(tree: QueryNode): TermNode | undefined {
  const conjuncts = tree.type === 'and' ? tree.children : [tree];
  const terms = conjuncts.filter((c): c is TermNode => c.type === 'term');
  return terms.sort((a, b) => driverRank(a) - driverRank(b))[0];
}

function hashOf(parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 16);
}

interface IpKey {
  ip: string;
  k: string;
}

interface Page {
  keys: IpKey[];
  more: boolean;
}

/**
 * The sort column: last_seen lives with the sightings (observationsFrom's `po_s`), the score's indexed copy in
 * observation_scores (`po_sc`, joined by fromFor).
 */
const sortRef = (sort: SearchSort, alias = 'po') => (sort === 'last_seen' ? sightingCol(alias, 'last_seen') : `${alias}_sc.score`);
const sortCol = (sort: SearchSort, alias = 'po') => sql.raw(sortRef(sort, alias));
const keyText = (sort: SearchSort, alias = 'po') => sql.raw(KEY_TEXT[sort].replace('%s', sortRef(sort, alias)));
/** Paging newest first walks the last_seen index of the sightings: an inner join lets the planner start there; by score, observation_scores' index. */
const fromFor = (sort: SearchSort) =>
  sort === 'last_seen' ? observationsFrom('po', 'inner') : sql`${observationsFrom('po', 'left')} join observation_scores po_sc on po_sc.id = po.id`;
const keyCast = (sort: SearchSort) => sql.raw(KEY_CAST[sort]);
/**
 * The address and id the walk orders by after the key: by score, observation_scores' own copies (same values, joined
 * on id), so that (score desc, ip, id) is its index's order and a page reads the index instead of sorting every tie.
 */
const tieRefs = (sort: SearchSort) =>
  sort === 'score' ? { ip: sql.raw('po_sc.ip'), id: sql.raw('po_sc.id') } : { ip: sql.raw('po.ip'), id: sql.raw('po.id') };

/**
 * Paging: walk matching rows in (sort key desc, ip, id) order and keep the
 * first row of each IP (its best key) until `limit + 1` IPs are found, so a
 * broad query stops early instead of grouping every match. An IP is shown once:
 * on later pages, candidates that had a row before the cursor are dropped. Port
 * mode passes the per-port condition; host mode the condition on the ports it
 * shows (a host's key is the best key of those, as a group-by would give).
 */
async function pageByPort(store: StoreSession, cond: SQL, sort: SearchSort, limit: number, cursor?: Cursor, firstWindow = FIRST_WINDOW): Promise<Page> {
  const col = sortCol(sort);
  const cast = keyCast(sort);
  const tie = tieRefs(sort);
  const afterCursor = cursor ? sql` and (${col} < ${cursor.k}::${cast} or (${col} = ${cursor.k}::${cast} and ${tie.ip} > ${cursor.ip}::inet))` : sql``;
  const keys: IpKey[] = [];
  const seen = new Set<string>();
  // Most IPs have one matching port: ask for a little more than a page, then double (the walk resumes where it stopped).
  let chunk = Math.min(limit + 16, 5000);
  let last: Row | undefined;
  const next =
    sort === 'last_seen'
      ? newestFirst(store, cond, afterCursor, cursor, firstWindow)
      : async (after: Row | undefined, n: number) =>
          store.query<Row>(sql`
        select host(po.ip) as ip, ${keyText(sort)} as k, po.id from ${fromFor(sort)}
        where ${cond}${afterCursor}${afterRowSql(sort, after)}
        order by ${col} desc, ${tie.ip}, ${tie.id} limit ${n}`);
  for (;;) {
    const rows = await next(last, chunk);
    const fresh: IpKey[] = [];
    for (const r of rows) {
      if (seen.has(r.ip)) continue;
      seen.add(r.ip);
      fresh.push({ ip: r.ip, k: r.k });
    }
    let valid = fresh;
    if (cursor && fresh.length) {
      const earlier = await store.query<{ ip: string }>(sql`
        select distinct host(po.ip) as ip from ${fromFor(sort)}
        where ${cond} and po.ip in (${sql.join(
          fresh.map((f) => sql`${f.ip}::inet`),
          sql`, `,
        )})
          and (${col} > ${cursor.k}::${cast} or (${col} = ${cursor.k}::${cast} and po.ip <= ${cursor.ip}::inet))`);
      const drop = new Set(earlier.map((e) => e.ip));
      valid = fresh.filter((f) => !drop.has(f.ip));
    }
    for (const v of valid) {
      keys.push(v);
      if (keys.length > limit) return { keys: keys.slice(0, limit), more: true };
    }
    if (rows.length < chunk) return { keys, more: false };
    last = rows[rows.length - 1]!;
    chunk = Math.min(chunk * 2, 20000);
  }
}

interface Row {
  ip: string;
  k: string;
  id: string;
}

/** Rows strictly after `after` in (sort key desc, ip, id) order. */
function afterRowSql(sort: SearchSort, after: Row | undefined): SQL {
  if (!after) return sql``;
  const col = sortCol(sort);
  const cast = keyCast(sort);
  const { ip, id } = tieRefs(sort);
  return sql` and (${col} < ${after.k}::${cast} or (${col} = ${after.k}::${cast} and (${ip} > ${after.ip}::inet or (${ip} = ${after.ip}::inet and ${id} > ${after.id}))))`;
}

/** First window of the newest-first walk, in sightings; later windows are sized from the match rate seen. */
const FIRST_WINDOW = 1500;
const MAX_WINDOW = 1_000_000;

/**
 * Newest-first rows for pageByPort. last_seen lives in observation_sightings, so
 * ordering by it needs the join, and the planner's choice between its two plans
 * went wrong both ways at 2,000,000 documents (bench/search.ts: p95 up to
 * 0.7 s in port mode, 4.5 s in host mode): walking the last_seen index (cost ∝
 * rows walked = wanted / match rate) is right for broad conditions, matching
 * first and looking up each match's last_seen (cost ∝ matches) for narrow ones;
 * misestimated regex/tsquery/semi-join selectivity picked the walk for narrow
 * queries, and a hash join over every sighting for middle ones.
 *
 * So the choice is made here from a measured rate: walk a window of the newest
 * sightings (cut at a last_seen value so ties stay whole). Whatever matches in
 * it is exact: every row outside is older. If the window did not yield enough
 * rows, either walk a larger window sized from the rate seen, or, when the
 * matches left are fewer than the rows such a walk would read, fetch all
 * remaining matches (last_seen looked up per match through an un-flattenable
 * lateral subquery, so no hash join over the whole sightings table) and sort
 * them. Per row the two cost the same order (a walked sighting against a
 * looked-up match: bench/search.ts); weighting the match higher made the middle
 * of the range slower, so they are weighted equally. The worst case is a
 * condition matching about sqrt(page × documents) rows.
 */
function newestFirst(
  store: StoreSession,
  cond: SQL,
  afterCursor: SQL,
  cursor: Cursor | undefined,
  firstWindow: number,
): (after: Row | undefined, n: number) => Promise<Row[]> {
  const sort: SearchSort = 'last_seen';
  let window = firstWindow;
  let walked = 0;
  let found = 0;
  let matchFirst = false;
  /** Every matching row with last_seen >= below (after the current position) has been returned. */
  let below: string | undefined;
  let total: number | undefined;
  return async (after, n) => {
    const out: Row[] = [];
    for (;;) {
      const want = n - out.length;
      const belowSql = below !== undefined ? sql` and po_s.last_seen < ${below}::timestamptz` : sql``;
      if (matchFirst) {
        const rows = await store.query<Row>(sql`
          select host(po.ip) as ip, ${keyText(sort)} as k, po.id
          from port_observations po cross join lateral (select s.* from observation_sightings s where s.id = po.id offset 0) po_s
          where ${cond}${afterCursor}${afterRowSql(sort, after)}${belowSql}
          order by po_s.last_seen desc, po.ip, po.id limit ${want}`);
        return out.concat(rows);
      }
      // The window's top: below (exclusive), else the position (inclusive).
      const top =
        below !== undefined
          ? sql`s.last_seen < ${below}::timestamptz`
          : after
            ? sql`s.last_seen <= ${after.k}::timestamptz`
            : cursor
              ? sql`s.last_seen <= ${cursor.k}::timestamptz`
              : sql`true`;
      // Its bottom: the last_seen of the window-th sighting (an index-only scan); every sighting at that instant is
      // inside, so whatever matches in the window precedes everything outside.
      const [cut] = await store.query<{ k: string }>(sql`
        select ${sql.raw(KEY_TEXT.last_seen.replace('%s', 's.last_seen'))} as k from observation_sightings s where ${top}
        order by s.last_seen desc offset ${window - 1} limit 1`);
      // The window is walked: its sightings by the last_seen index, each document by its primary key (the lateral
      // subquery cannot be flattened, so the planner cannot trade this bounded walk for matching everything first).
      const rows = await store.query<Row>(sql`
        select host(po.ip) as ip, ${keyText(sort)} as k, po.id
        from (select s.* from observation_sightings s where ${top}${cut ? sql` and s.last_seen >= ${cut.k}::timestamptz` : sql``}) po_s
          cross join lateral (select p.* from port_observations p where p.id = po_s.id offset 0) po
        where ${cond}${afterCursor}${afterRowSql(sort, after)}
        order by po_s.last_seen desc, po.ip, po.id limit ${want}`);
      out.push(...rows);
      walked += window;
      found += rows.length;
      if (!cut) return out; // the window reached the oldest sighting
      if (rows.length === want) {
        // Full: the next call starts from its last row (keeping the window size).
        below = undefined;
        return out;
      }
      below = cut.k;
      if (total === undefined) {
        // The planner's row count; before any analyze (PGlite has no autovacuum), one from the table's size
        // (a sighting row takes about 100 bytes).
        const [t] = await store.query<{ n: number }>(sql`
          select (case when reltuples > 0 then reltuples else pg_relation_size(oid) / 100.0 end)::float8 as n
          from pg_class where oid = 'observation_sightings'::regclass`);
        total = Number(t?.n ?? 0);
      }
      const rate = Math.max(found, 0.5) / walked;
      const toWalk = (n - out.length) / rate;
      const left = rate * Math.max(total - walked, 0);
      if (toWalk > left) matchFirst = true;
      else window = Math.min(MAX_WINDOW, Math.max(firstWindow, Math.ceil(toWalk * 1.25)));
    }
  };
}

type PortRow = Pick<ObservationRow, 'id' | 'ip' | 'protocol' | 'port' | 'state' | 'hsh256' | 'tags' | 'score' | 'first_seen' | 'last_seen'> & {
  service: string | null;
  product: string | null;
  title: string | null;
};

async function finish(
  meta: Omit<SearchResult, 'hosts' | 'nextCursor'>,
  store: StoreSession,
  cond: SQL,
  page: Page,
  h: string,
  _limit: number,
): Promise<SearchResult> {
  const hosts = await loadHosts(
    store,
    cond,
    page.keys.map((k) => k.ip),
  );
  const last = page.keys[page.keys.length - 1];
  const result: SearchResult = { ...meta, hosts };
  if (page.more && last) result.nextCursor = encodeCursor({ h, k: last.k, ip: last.ip });
  return result;
}

async function loadHosts(store: StoreSession, cond: SQL, ips: string[], onlyIds?: Set<string>): Promise<HostHit[]> {
  if (ips.length === 0) return [];
  const rows = await store.query<PortRow>(sql`
    select po.id, host(po.ip) as ip, po.protocol, po.port, po.state, po.hsh256, po.tags, po.score, po.first_seen, po_s.last_seen,
           po.fields -> 'service_name' ->> 0 as service, po.fields -> 'service_product' ->> 0 as product,
           po.fields -> 'http_title' ->> 0 as title
    from ${observationsFrom('po')}
    where ${cond} and po.ip in (${sql.join(
      ips.map((ip) => sql`${ip}::inet`),
      sql`, `,
    )})
    order by po.ip, po.port, po.protocol, po_s.last_seen desc`);
  const byIp = new Map<string, PortRow[]>();
  for (const r of rows) {
    if (onlyIds && !onlyIds.has(r.id)) continue;
    const list = byIp.get(r.ip) ?? [];
    list.push(r);
    byIp.set(r.ip, list);
  }
  const out: HostHit[] = [];
  for (const ip of ips) {
    const ports = byIp.get(ip);
    if (!ports?.length) continue;
    const iso = (d: Date) => d.toISOString();
    const tags = [...new Set(ports.flatMap((p) => p.tags))].sort();
    out.push({
      ip,
      first_seen: iso(new Date(Math.min(...ports.map((p) => p.first_seen.getTime())))),
      last_seen: iso(new Date(Math.max(...ports.map((p) => p.last_seen.getTime())))),
      score: Math.max(...ports.map((p) => p.score)),
      tags,
      ports: ports.map((p) => {
        const hit: PortHit = {
          id: p.id,
          protocol: p.protocol,
          port: p.port,
          state: p.state,
          hsh256: p.hsh256,
          tags: p.tags,
          score: p.score,
          first_seen: iso(p.first_seen),
          last_seen: iso(p.last_seen),
        };
        if (p.service) hit.service = p.service;
        if (p.product) hit.product = p.product;
        if (p.title) hit.title = p.title;
        return hit;
      }),
    });
  }
  return out;
}

/** Token search served by an external engine (Meilisearch): ranks ids there, loads documents here. */
async function tokenViaBackend(
  store: StoreSession,
  q: string,
  backend: TokenBackend,
  limit: number,
  h: string,
  cursor: Cursor | undefined,
  sort: SearchSort,
): Promise<SearchResult> {
  let offset = cursor?.o ?? 0;
  const ipsInOrder: string[] = [];
  const ids = new Set<string>();
  const seenIps = new Set<string>(cursor ? (JSON.parse(Buffer.from(cursor.k, 'base64url').toString() || '[]') as string[]) : []);
  const batch = Math.max(limit * 4, 100);
  let exhausted = false;
  while (ipsInOrder.length <= limit && !exhausted) {
    const res = await backend.searchIds(q, offset, batch);
    if (res.ids.length < batch) exhausted = true;
    if (res.ids.length === 0) break;
    const rows = await store.query<{ id: string; ip: string }>(sql`
      select po.id, host(po.ip) as ip from ${observationsFrom('po')}
      where ${scopeWhere('current')} and po.id in (${sql.join(
        res.ids.map((i) => sql`${i}`),
        sql`, `,
      )})`);
    const ipOf = new Map(rows.map((r) => [r.id, r.ip]));
    let consumed = 0;
    for (const id of res.ids) {
      consumed++;
      const ip = ipOf.get(id);
      if (!ip) continue;
      if (!seenIps.has(ip)) {
        if (ipsInOrder.length === limit) {
          consumed--;
          exhausted = false;
          break;
        }
        seenIps.add(ip);
        ipsInOrder.push(ip);
      }
      if (ipsInOrder.includes(ip)) ids.add(id);
    }
    offset += consumed;
    if (ipsInOrder.length === limit) {
      // One more look decides whether a next page exists.
      const more = await backend.searchIds(q, offset, 1);
      const hosts = await loadHosts(store, scopeWhere('current'), ipsInOrder, ids);
      const result: SearchResult = { query: q, mode: 'token', by: 'port', scope: 'current', sort, hosts, backend: backend.name };
      if (more.ids.length) {
        result.nextCursor = encodeCursor({ h, k: Buffer.from(JSON.stringify([...seenIps])).toString('base64url'), ip: '', o: offset });
      }
      return result;
    }
  }
  const hosts = await loadHosts(store, scopeWhere('current'), ipsInOrder, ids);
  return { query: q, mode: 'token', by: 'port', scope: 'current', sort, hosts, backend: backend.name };
}
