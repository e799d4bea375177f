import { sql, type SQL } from 'drizzle-orm';
import type { StoreSession } from '../index.ts';
import { observationsFrom, sightingCol } from './compile.ts';
import type { SearchSort } from './index.ts';

/*
 * Keyset paging of search results in (sort key desc, ip, id) order: newest first over the sightings' last_seen
 * index, best first over observation_scores' index. Each walk chooses between walking its index and matching
 * first from the match rates it measures, so broad and narrow queries both stay bounded.
 */

export interface Cursor {
  /** Hash of the query and options the cursor belongs to. */
  h: string;
  /** Sort key of the last IP returned (text form), and that IP. */
  k: string;
  ip: string;
  /** Token backends page by offset. */
  o?: number;
}

const KEY_TEXT: Record<SearchSort, string> = {
  last_seen: `to_char(%s at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
  score: '%s::text',
};
const KEY_CAST: Record<SearchSort, string> = { last_seen: 'timestamptz', score: 'int' };

export interface IpKey {
  ip: string;
  k: string;
}

export interface Page {
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
 * `identity`, on observation_scores (alias `s`), is implied by `cond`: a walk by score checks it in the index.
 */
export async function pageByPort(
  store: StoreSession,
  cond: SQL,
  sort: SearchSort,
  limit: number,
  cursor?: Cursor,
  firstWindow = FIRST_WINDOW,
  identity?: SQL,
): Promise<Page> {
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
    sort === 'last_seen' ? newestFirst(store, cond, afterCursor, cursor, firstWindow) : bestFirst(store, cond, identity, afterCursor, cursor, firstWindow);
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

/**
 * A place in the walk by score: after every row of score `k` up to (ip, id), or up to the address `ip`
 * (a cursor: its IP is done), or after every row of score `k` (neither).
 */
interface ScorePos {
  k: string;
  ip?: string;
  id?: string;
}

/** Rows of the same score (alias `s`, observation_scores) after `p`, in the index's order (ip, id). */
function bandRest(p: ScorePos): SQL {
  if (p.id !== undefined) return sql`s.score = ${p.k}::int and (s.ip, s.id) > (${p.ip}::inet, ${p.id})`;
  return sql`s.score = ${p.k}::int and s.ip > ${p.ip}::inet`;
}

/** Rows after `p` in (score desc, ip, id) order, on the walk's alias `po_sc`. */
function afterPosSql(p: ScorePos): SQL {
  if (p.ip === undefined) return sql` and po_sc.score < ${p.k}::int`;
  const rest = p.id !== undefined ? sql`(po_sc.ip, po_sc.id) > (${p.ip}::inet, ${p.id})` : sql`po_sc.ip > ${p.ip}::inet`;
  return sql` and (po_sc.score < ${p.k}::int or (po_sc.score = ${p.k}::int and ${rest}))`;
}

/**
 * Best-first rows for pageByPort, the score's twin of newestFirst. Walking observation_scores' index (score desc,
 * ip, id) and reading each document costs one wide-row lookup per row walked, so a query whose matches all score
 * low read every higher-scored document first; matching first costs one lookup per match. Neither is right for
 * both broad and narrow queries, so the choice is made from measurements, as newestFirst does.
 *
 * The walk goes band by band (a band: the rows of one score; scores are small integers, so there are few), in
 * windows of index rows cut at an (ip, id) inside a band: whatever matches in a window precedes everything after
 * it, and every bound is an index range (score = k and (ip, id) > ...), so resuming never re-reads the index from
 * its top. The query's address and port terms (`identity`, on copies in the index) are checked before any
 * document is read: a band none of whose documents can match costs its index entries only.
 *
 * The match rate is measured per band (the best-scored documents are often of another kind than the rest, so
 * one band's rate says little of the next). When the band's rate says that the rest of the band will not fill
 * the call, the matches are counted, up to an eighth of the band's rest (so a failed count costs a fraction of
 * the walk it could have saved); when there are fewer, they are all fetched (each one's score looked up through
 * an un-flattenable lateral subquery) and the best of them sorted. Otherwise the walk goes on, in windows sized
 * from the rate. A query without address or port terms whose matches are many and all score below many
 * non-matching documents still reads each of those: no index holds both the score and what it asks for.
 */
function bestFirst(
  store: StoreSession,
  cond: SQL,
  identity: SQL | undefined,
  afterCursor: SQL,
  cursor: Cursor | undefined,
  firstWindow: number,
): (after: Row | undefined, n: number) => Promise<Row[]> {
  const sort: SearchSort = 'score';
  const only = identity ? sql` and ${identity}` : sql``;
  let window = firstWindow;
  /** The band being walked, and what its windows read and found. */
  let band: string | undefined;
  let walked = 0;
  let found = 0;
  let matchFirst = false;
  /** Every matching row up to this place has been returned (set once a window was walked through without filling a call). */
  let done: ScorePos | undefined;
  /** A count found at least this many matches. */
  let countedPast = 0;
  return async (after, n) => {
    const out: Row[] = [];
    for (;;) {
      const want = n - out.length;
      if (matchFirst) {
        const rows = await store.query<Row>(sql`
          select host(po.ip) as ip, ${keyText(sort)} as k, po.id
          from port_observations po cross join lateral (select s.* from observation_scores s where s.id = po.id offset 0) po_sc
            left join observation_sightings po_s on po_s.id = po.id
          where ${cond}${afterCursor}${afterRowSql(sort, after)}${done ? afterPosSql(done) : sql``}
          order by po_sc.score desc, po_sc.ip, po_sc.id limit ${want}`);
        return out.concat(rows);
      }
      let from: ScorePos | undefined = done ?? (after ? { k: after.k, ip: after.ip, id: after.id } : cursor ? { k: cursor.k, ip: cursor.ip } : undefined);
      if (from?.ip === undefined) {
        // The next band: the best score below the last one that the index says may match (an index-only scan).
        const [next] = await store.query<{ k: string }>(sql`
          select s.score::text as k from observation_scores s where ${from ? sql`s.score < ${from.k}::int` : sql`true`}${only}
          order by s.score desc limit 1`);
        if (!next) return out;
        from = { k: next.k };
      }
      if (from.k !== band) {
        band = from.k;
        walked = 0;
        found = 0;
        window = firstWindow;
      }
      const range = from.ip === undefined ? sql`s.score = ${from.k}::int` : bandRest(from);
      // The window's last row: the window-th of the band's rest (index-only); none when the band ends first.
      const [cut] = await store.query<{ ip: string; id: string }>(sql`
        select host(s.ip) as ip, s.id from observation_scores s where ${range}${only}
        order by s.ip, s.id offset ${window - 1} limit 1`);
      const upTo = cut ? sql` and (s.ip, s.id) <= (${cut.ip}::inet, ${cut.id})` : sql``;
      // The window is walked in index order, each document read by its primary key and checked there (the lateral
      // subquery cannot be flattened, so the planner cannot trade this bounded walk for matching everything first;
      // it returns two columns, so no matched or unmatched wide row is copied out whole).
      const rows = await store.query<Row>(sql`
        select host(m.ip) as ip, ${keyText(sort)} as k, m.id
        from (select s.* from observation_scores s where ${range}${upTo}${only}) po_sc
          cross join lateral (select po.id, po.ip from ${observationsFrom('po')} where po.id = po_sc.id and ${cond} offset 0) m
        where true${afterCursor}${afterRowSql(sort, after)}
        order by po_sc.score desc, po_sc.ip, po_sc.id limit ${want}`);
      out.push(...rows);
      if (rows.length === want) {
        // Full: the next call starts from its last row (keeping the window size).
        done = undefined;
        return out;
      }
      if (!cut) {
        // The band is walked through: the next one starts afresh.
        done = { k: from.k };
        continue;
      }
      done = { k: from.k, ip: cut.ip, id: cut.id };
      walked += window;
      found += rows.length;
      const rate = Math.max(found, 0.5) / walked;
      const toWalk = Math.ceil((n - out.length) / rate);
      // The band's rest, counted up to what the walk would read (index-only).
      const [r] = await store.query<{ n: number }>(sql`
        select count(*)::int as n from (select 1 from observation_scores s where ${bandRest(done)}${only} limit ${toWalk}) r`);
      const rest = r?.n ?? 0;
      const cap = Math.ceil(rest / 8);
      if (rest < toWalk && cap > countedPast * 2) {
        const [c] = await store.query<{ n: number }>(sql`
          select count(*)::int as n from (select 1 from ${observationsFrom('po')} where ${cond} limit ${cap}) m`);
        if ((c?.n ?? 0) < cap) {
          matchFirst = true;
          continue;
        }
        countedPast = cap;
      }
      window = Math.min(MAX_WINDOW, Math.max(firstWindow, Math.ceil(Math.min(toWalk, rest) * 1.25)));
    }
  };
}
