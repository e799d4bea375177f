import { createHash } from 'node:crypto';
import { sql, type SQL } from 'drizzle-orm';
import { PlumError } from '../../core/errors.ts';
import type { QueryNode, TermNode } from '../../core/query/ast.ts';
import { getField } from '../../core/query/registry.ts';
import { queryToString } from '../../core/query/ast.ts';
import { usesTime } from '../../core/query/evaluate.ts';
import { parseQuery } from '../../core/query/parse.ts';
import type { StoreSession } from '../index.ts';
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

function decodeCursor(s: string, h: string): Cursor {
  let c: Cursor;
  try {
    c = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Cursor;
  } catch {
    throw new PlumError('usage', 'invalid cursor', { hint: 'pass the nextCursor value of the previous page unchanged' });
  }
  if (!c || typeof c.k !== 'string' || typeof c.ip !== 'string' || typeof c.h !== 'string') {
    throw new PlumError('usage', 'invalid cursor', { hint: 'pass the nextCursor value of the previous page unchanged' });
  }
  if (c.h !== h) throw new PlumError('usage', 'this cursor belongs to another query', { hint: 'repeat the same query and options with the cursor, or drop --cursor' });
  return c;
}

const KEY_TEXT: Record<SearchSort, string> = {
  last_seen: `to_char(%s at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
  score: '%s::text',
};
const KEY_CAST: Record<SearchSort, string> = { last_seen: 'timestamptz', score: 'int' };

/** Parses (or accepts) a query and runs it. Syntax errors are PlumError 'syntax'. */
export async function searchPorts(store: StoreSession, query: string | QueryNode, opts: SearchOptions = {}): Promise<SearchResult> {
  const limit = opts.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new PlumError('usage', `--limit must be a whole number from 1 to ${MAX_LIMIT}`, { hint: 'page with --cursor for more' });
  }
  const by = opts.by ?? 'port';
  const sort = opts.sort ?? 'last_seen';
  const now = opts.now ?? new Date();

  if (opts.token) {
    const q = typeof query === 'string' ? query.trim() : queryToString(query);
    if (!q) throw new PlumError('usage', 'empty token query', { hint: 'give words to search for, e.g. plum search --token "openssh debian"' });
    const h = hashOf(['token', q, sort, opts.tokenBackend?.name ?? 'pg']);
    const cursor = opts.cursor ? decodeCursor(opts.cursor, h) : undefined;
    if (opts.tokenBackend) return tokenViaBackend(store, q, opts.tokenBackend, limit, h, cursor, sort);
    const probe = await store.query<{ ok: boolean }>(sql`select numnode(websearch_to_tsquery('simple', ${q})) > 0 as ok`);
    if (!probe[0]?.ok) throw new PlumError('usage', `nothing to search for in '${q}'`, { hint: 'give words or numbers (punctuation alone is ignored)' });
    const cond = sql`${scopeWhere('current')} and po.search_tsv @@ websearch_to_tsquery('simple', ${q})`;
    const page = await pageByPort(store, cond, sort, limit, cursor);
    return finish({ query: q, mode: 'token', by: 'port', scope: 'current', sort, backend: 'postgres' }, store, cond, page, h, limit);
  }

  const tree = typeof query === 'string' ? parseQuery(query) : query;
  const text = queryToString(tree);
  const scope: SearchScope = opts.scope ?? (usesTime(tree) ? 'history' : 'current');
  const h = hashOf(['structured', text, by, sort, scope, by === 'port' && !usesTime(tree) ? '' : now.toISOString().slice(0, 13)]);
  const cursor = opts.cursor ? decodeCursor(opts.cursor, h) : undefined;
  const meta = { query: text, mode: 'structured' as const, by, scope, sort, backend: 'postgres' };

  if (by === 'host') {
    const hostCond = compileHostCond(tree, { now }, scope);
    const pos = positiveTerms(tree);
    const anyPositive = (alias: string) => sql.join(pos.map((t) => compileTerm(t, { now, alias })), sql` or `);
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
    const cond = driver
      ? sql`${scopeWhere(scope)} and ${shown} and po.ip in (select d.ip from ${observationsFrom('d')} where ${scopeWhere(scope, 'd')} and ${compileTerm(driver, { now, alias: 'd' })} and ${compileHostCond(tree, { now }, scope, 'd.ip')})`
      : sql`${scopeWhere(scope)} and ${shown} and ${hostCond}`;
    const page = await pageByGroup(store, cond, sort, limit, cursor);
    return finish(meta, store, cond, page, h, limit);
  }

  const cond = sql`${scopeWhere(scope)} and ${compileWhere(tree, { now })}`;
  const page = await pageByPort(store, cond, sort, limit, cursor);
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

/** The sort column: last_seen lives with the sightings (observationsFrom's `po_s`), score on the document row. */
const sortRef = (sort: SearchSort, alias = 'po') => (sort === 'last_seen' ? sightingCol(alias, 'last_seen') : `${alias}.${sort}`);
const sortCol = (sort: SearchSort, alias = 'po') => sql.raw(sortRef(sort, alias));
const keyText = (sort: SearchSort, alias = 'po') => sql.raw(KEY_TEXT[sort].replace('%s', sortRef(sort, alias)));
/** Paging newest first walks the last_seen index of the sightings: an inner join lets the planner start there. */
const fromFor = (sort: SearchSort) => observationsFrom('po', sort === 'last_seen' ? 'inner' : 'left');
const keyCast = (sort: SearchSort) => sql.raw(KEY_CAST[sort]);

/**
 * Port mode paging: walk matching rows in (sort key desc, ip, id) order and keep
 * the first row of each IP (its best key) until `limit + 1` IPs are found, so a
 * broad query stops early instead of grouping every match. An IP is shown once:
 * on later pages, candidates that had a row before the cursor are dropped.
 */
async function pageByPort(store: StoreSession, cond: SQL, sort: SearchSort, limit: number, cursor?: Cursor): Promise<Page> {
  const col = sortCol(sort);
  const cast = keyCast(sort);
  const afterCursor = cursor
    ? sql` and (${col} < ${cursor.k}::${cast} or (${col} = ${cursor.k}::${cast} and po.ip > ${cursor.ip}::inet))`
    : sql``;
  const keys: IpKey[] = [];
  const seen = new Set<string>();
  let chunk = Math.min(limit * 4 + 16, 5000);
  let last: { k: string; ip: string; id: string } | undefined;
  for (;;) {
    const afterRow = last
      ? sql` and (${col} < ${last.k}::${cast} or (${col} = ${last.k}::${cast} and (po.ip > ${last.ip}::inet or (po.ip = ${last.ip}::inet and po.id > ${last.id}))))`
      : sql``;
    const rows = await store.query<{ ip: string; k: string; id: string }>(sql`
      select host(po.ip) as ip, ${keyText(sort)} as k, po.id from ${fromFor(sort)}
      where ${cond}${afterCursor}${afterRow}
      order by ${col} desc, po.ip, po.id limit ${chunk}`);
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
        where ${cond} and po.ip in (${sql.join(fresh.map((f) => sql`${f.ip}::inet`), sql`, `)})
          and (${col} > ${cursor.k}::${cast} or (${col} = ${cursor.k}::${cast} and po.ip <= ${cursor.ip}::inet))`);
      const drop = new Set(earlier.map((e) => e.ip));
      valid = fresh.filter((f) => !drop.has(f.ip));
    }
    for (const v of valid) {
      keys.push(v);
      if (keys.length > limit) return { keys: keys.slice(0, limit), more: true };
    }
    if (rows.length < chunk) return { keys, more: false };
    const r = rows[rows.length - 1]!;
    last = { k: r.k, ip: r.ip, id: r.id };
    chunk = Math.min(chunk * 2, 20000);
  }
}

/** Host mode paging: group the matching rows by IP (key = best sort value of its shown ports). */
async function pageByGroup(store: StoreSession, cond: SQL, sort: SearchSort, limit: number, cursor?: Cursor): Promise<Page> {
  const cast = keyCast(sort);
  const agg = sql.raw(`max(${sortRef(sort)})`);
  const having = cursor ? sql` having (${agg} < ${cursor.k}::${cast} or (${agg} = ${cursor.k}::${cast} and po.ip > ${cursor.ip}::inet))` : sql``;
  const keyExpr = sql.raw(KEY_TEXT[sort].replace('%s', `max(${sortRef(sort)})`));
  const rows = await store.query<IpKey>(sql`
    select host(po.ip) as ip, ${keyExpr} as k from ${observationsFrom('po')} where ${cond}
    group by po.ip${having} order by ${agg} desc, po.ip limit ${limit + 1}`);
  return { keys: rows.slice(0, limit), more: rows.length > limit };
}

interface PortRow {
  id: string;
  ip: string;
  protocol: string;
  port: number;
  state: string;
  hsh256: string;
  tags: string[];
  score: number;
  first_seen: Date;
  last_seen: Date;
  service: string | null;
  product: string | null;
  title: string | null;
}

async function finish(
  meta: Omit<SearchResult, 'hosts' | 'nextCursor'>, store: StoreSession, cond: SQL, page: Page, h: string, _limit: number,
): Promise<SearchResult> {
  const hosts = await loadHosts(store, cond, page.keys.map((k) => k.ip));
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
    where ${cond} and po.ip in (${sql.join(ips.map((ip) => sql`${ip}::inet`), sql`, `)})
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
          id: p.id, protocol: p.protocol, port: p.port, state: p.state, hsh256: p.hsh256, tags: p.tags, score: p.score,
          first_seen: iso(p.first_seen), last_seen: iso(p.last_seen),
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
  store: StoreSession, q: string, backend: TokenBackend, limit: number, h: string, cursor: Cursor | undefined, sort: SearchSort,
): Promise<SearchResult> {
  let offset = cursor?.o ?? 0;
  const ipsInOrder: string[] = [];
  const ids = new Set<string>();
  const seenIps = new Set<string>(cursor ? JSON.parse(Buffer.from(cursor.k, 'base64url').toString() || '[]') as string[] : []);
  const batch = Math.max(limit * 4, 100);
  let exhausted = false;
  while (ipsInOrder.length <= limit && !exhausted) {
    const res = await backend.searchIds(q, offset, batch);
    if (res.ids.length < batch) exhausted = true;
    if (res.ids.length === 0) break;
    const rows = await store.query<{ id: string; ip: string }>(sql`
      select po.id, host(po.ip) as ip from ${observationsFrom('po')}
      where ${scopeWhere('current')} and po.id in (${sql.join(res.ids.map((i) => sql`${i}`), sql`, `)})`);
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
