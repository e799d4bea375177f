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
import { anyOf, compileHostCond, compileIdentity, compileTerm, compileWhere, hasNegation, observationsFrom, positiveTerms, scopeWhere } from './compile.ts';
import { pageByPort, type Cursor, type Page } from './paging.ts';

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
   * Rows read by the first window of a newest-first or best-first walk (default: 1500, see newestFirst and
   * bestFirst). Tuning only; the results do not depend on it (tests set it small so that small data takes every path).
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
    // Without a NOT, every port shown matches a positive term: their address and port terms narrow a walk by score.
    const identity = hasNegation(tree) ? undefined : anyOf(pos.map((t) => compileIdentity(t, 's')));
    // Same paging as port mode over the ports shown: a host's key is the newest (best) of them.
    const page = await pageByPort(store, cond, sort, limit, cursor, opts.walkWindow, identity);
    // The page's hosts already satisfy the host condition: loading their ports needs only the shown ones.
    return finish(meta, store, sql`${scopeWhere(scope)} and ${shown}`, page, h, limit);
  }

  const cond = sql`${scopeWhere(scope)} and ${compileWhere(tree, { now })}`;
  const page = await pageByPort(store, cond, sort, limit, cursor, opts.walkWindow, compileIdentity(tree, 's'));
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
