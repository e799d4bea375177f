import { canonicalIp, type PortCoverage } from '../core/coverage.ts';
import { PlumError } from '../core/errors.ts';
import type { StoreSession } from './index.ts';
import type { IngestDeps } from './ingest.ts';
import type { IngestHost, IngestPort, IngestRunInfo } from './ingest-types.ts';
import type { ObservationRow } from './repos/observation-rows.ts';

/*
 * A batch's read: it locks its hosts, plans each host's open ports (time, names, tags, score), stores the
 * stable sightings on the fast path, and reads every other row the decision (store/ingest-decide.ts) needs.
 */

/** A row of port_observations with its sightings columns, as a batch reads it. */
export type ExistingRow = Pick<
  ObservationRow,
  'id' | 'ip' | 'protocol' | 'port' | 'hsh256' | 'current' | 'first_seen' | 'last_seen' | 'last_job_id' | 'times_seen' | 'tags' | 'hostnames' | 'score'
> & {
  view: string;
  state: 'open' | 'closed';
  /** The latest fingerprint of its view at the slot. */
  view_head: boolean;
  checked_at: Date;
  rules: string[];
};

export const OPEN = 'open';
/** A port the stable fast path stored: its row and its first/last seen after the sighting. */
export interface FastRow {
  id: string;
  firstSeen: string;
  lastSeen: string;
  /** Its last sighting before this one (scan time). */
  previousSeen: string;
  /** Whether its stored score moves with time (null: never scored): port_observations.score_timed. */
  scoreTimed: boolean | null;
}
const UNTAGGED = { tags: [] as string[], rules: [] as string[] };
export const slotKey = (ip: string, protocol: string, port: number) => `${ip}/${protocol}/${port}`;
/** Every statement of a batch has fixed text and runs once per batch: prepared on a server (store/index.ts). */
export const PREPARED = { prepare: true } as const;

export interface BatchCtx {
  runId: string;
  jobId: string;
  /** Lazy: a streamed scan knows its <scaninfo> only once reading has started. */
  readonly coverage: PortCoverage;
  /** Lazy too: an import's view comes from nmap's command line in the result (core/history/view.ts). */
  readonly view: string;
  run: IngestRunInfo;
  now: Date;
  deps: IngestDeps;
}

function hostTime(host: IngestHost, run: IngestRunInfo, fallback: Date): Date {
  for (const v of [host.endedAt, host.startedAt, run.endedAt, run.startedAt]) {
    if (v) {
      const d = new Date(v);
      if (!Number.isNaN(d.getTime())) return d;
    }
  }
  return fallback;
}

/** One open port of a host as the batch plans it. */
export interface PortPlan {
  slot: string;
  p: IngestPort;
  /** The port's tags: the rules' (or, for a stable sighting whose stored tags follow the rules, the stored ones). */
  tagged: { tags: string[]; rules: string[] };
  scored: { score: number; features: Record<string, unknown> | null };
  /** Set when the stable fast path stored the sighting. */
  fast: FastRow | undefined;
}
/** One host of the batch: its scan time, names and open ports. */
export interface HostPlan {
  host: IngestHost;
  ip: string;
  t: Date;
  iso: string;
  hostnames: string[];
  ports: PortPlan[];
}

export interface BatchRead {
  plans: HostPlan[];
  /** The rows the decision needs (not those the fast path stored). */
  existing: ExistingRow[];
  /** Sightings the fast path stored. */
  fastCount: number;
}

/**
 * Rows with their sighting columns, read from observation_sightings by primary key through a lateral subquery the
 * planner cannot flatten (joined plainly, it may hash-join the whole sightings table for a few thousand rows).
 */
const withSightings = (rows: string, extra = '') =>
  `select r.id, host(r.ip) as ip, r.protocol, r.port, r.hsh256, r.view, r.state, r.current,
     r.view_head, r.first_seen, r.tags, r.rules, r.hostnames, r.score${extra}, s.last_seen, s.checked_at, s.last_job_id, s.times_seen
   from ${rows} left join lateral (select last_seen, checked_at, last_job_id, times_seen from observation_sightings s
     where s.id = r.id offset 0) s on true`;

/** Milliseconds since the epoch of a timestamptz, as the fast rows carry their times (JSON has no time type). */
const epochMs = (col: string) => `(extract(epoch from ${col}) * 1000)::float8`;

/**
 * The stable fast path's one statement (readBatch): reads every current row of the batch's hosts, moves the
 * sightings of the ports seen again unchanged, and returns those ports' sightings and the other rows.
 * Parameters: $1 the batch's open ports (JSON), $2 its addresses, $3 the job, $4 the run, $5 the view.
 * With rules (`judging`), a fast row also returns whether its stored score moves with time (store/rules/rescore.ts
 * decides from it which hosts to rescore); without, that column stays out of the materialized rows.
 * The view and state are tested once, as one column of the materialized rows (open_in_view): the planner has no
 * statistics on those rows and cuts its estimate 200-fold for each equality tested there, so with both it expected
 * one row and joined the batch's input by nested loop, every current row against every input row (over a second
 * a batch at 1,000,000 observations, in the custom plans of each connection's first executions). A boolean column
 * is estimated at half, which keeps the hash join on the slot (test/ingest-fast-path-plan.test.ts).
 * The fast rows, most of a stable pass, come back folded into one JSON array in the first row (`fast`, a FastTuple
 * each, null when there is none), the other rows one each with `fast` null: a row of its own per stable port made
 * the driver build and parse a wide row of mostly nulls for each, a large part of the statement's time as
 * the client sees it.
 */
export function stableFastPathSql(judging: boolean): string {
  return `with c as materialized (${withSightings('(select * from port_observations where ip = any($2::inet[]) and current) r', `${judging ? ', r.score_timed' : ''}, (r.view = $5 and r.state = 'open') as open_in_view`)}),
     x as (select * from jsonb_to_recordset($1::jsonb) as x(i int, ip inet, protocol text, port int, hsh256 text,
       t timestamptz, hostnames text[], tags text[], rules text[], score int)),
     m as (select c.id, x.i, x.t, c.first_seen, c.last_seen as prev_seen, ${judging ? 'c.score_timed' : 'null::boolean as score_timed'}, case when x.tags is null then c.tags end as tags,
         case when x.tags is null then c.rules end as rules from c join x
       on c.ip = host(x.ip) and c.protocol = x.protocol and c.port = x.port
       where c.hsh256 = x.hsh256 and c.open_in_view and x.t >= c.checked_at and x.t >= c.first_seen
         and c.last_job_id is distinct from $3 and c.hostnames = x.hostnames
         and (x.tags is null or (c.tags = x.tags and c.rules = x.rules)) and (x.score is null or c.score = x.score)),
     u as (update observation_sightings s set last_seen = greatest(s.last_seen, m.t), times_seen = s.times_seen + 1,
         checked_at = m.t, last_run_id = $4, last_job_id = $3
       from m where s.id = m.id returning m.i, s.id, m.first_seen, s.last_seen, m.prev_seen, m.score_timed, m.tags, m.rules)
     select (select json_agg(json_build_array(u.i, u.id, ${epochMs('u.first_seen')}, ${epochMs('u.last_seen')}, ${epochMs('u.prev_seen')},
         u.score_timed, u.tags, u.rules)) from u) as fast,
       null::text as id, null::text as ip, null::text as protocol, null::int as port, null::text as hsh256,
       null::text as view, null::text as state, null::boolean as current, null::boolean as view_head, null::timestamptz as first_seen,
       null::text[] as tags, null::text[] as rules, null::text[] as hostnames, null::int as score, null::timestamptz as last_seen,
       null::timestamptz as checked_at, null::text as last_job_id, null::int as times_seen
     union all
     select null, c.id, c.ip, c.protocol, c.port, c.hsh256, c.view, c.state, c.current, c.view_head, c.first_seen, c.tags, c.rules,
       c.hostnames, c.score, c.last_seen, c.checked_at, c.last_job_id, c.times_seen
     from c where not exists (select 1 from m where m.id = c.id)`;
}

/**
 * One port the fast path stored, as stableFastPathSql returns it: its index in the input, row id, first seen, last
 * seen and previous sighting (ms since the epoch), whether its score moves with time, and its stored tags and rules
 * (null unless the batch left tagging to the stored tags).
 */
type FastTuple = [
  i: number,
  id: string,
  firstSeen: number,
  lastSeen: number,
  prevSeen: number,
  scoreTimed: boolean | null,
  tags: string[] | null,
  rules: string[] | null,
];
/**
 * ISO text of a time in ms, memoised for one batch: a host's ports were mostly first seen, and are all seen now,
 * at the same times, and formatting a Date was a visible share of a stable pass's main thread.
 */
function isoMemo(): (ms: number) => string {
  const known = new Map<number, string>();
  return (ms) => {
    let iso = known.get(ms);
    if (iso === undefined) known.set(ms, (iso = new Date(ms).toISOString()));
    return iso;
  };
}

/** Locks the batch's hosts, plans them, runs the stable fast path and reads the rows the decision needs. */
export async function readBatch(tx: StoreSession, hosts: IngestHost[], ctx: BatchCtx): Promise<BatchRead> {
  const hostIps = hosts.map((h) => canonicalIp(h.ip));
  const ips = [...new Set(hostIps)].sort();
  // Serialise concurrent ingests per host: transaction-scoped locks taken in one fixed order. In the same round
  // trip, JIT off for this transaction: a batch's reads are estimated just above jit_above_cost, and compiling
  // them (PostgreSQL's default jit = on) costs more per batch than it can save on a batch's rows.
  await tx.query(
    `select set_config('jit', 'off', true), count(pg_advisory_xact_lock(k))
     from (select distinct hashtextextended(ip, 7245) as k from unnest($1::text[]) as ip order by 1) s`,
    [ips],
    PREPARED,
  );
  const { runId, jobId, deps } = ctx;
  // When the stored tags follow the rules (store/repos/tagged-state.ts), a stable sighting keeps its stored tags:
  // the rules run only on the ports that leave the fast path below (most of a stable pass never reads its fields).
  const lazyTags = deps.tagPort !== undefined && deps.scorePort === undefined && deps.storedTagsFollow !== undefined && (await deps.storedTagsFollow(tx));
  const judge = (x: PortPlan) => {
    x.tagged = deps.tagPort ? deps.tagPort(x.p) : UNTAGGED;
    x.scored = deps.scorePort ? deps.scorePort(x.p, x.tagged.tags) : { score: 0, features: null };
  };
  // Each host's time, names and open ports (last occurrence wins if nmap lists a port twice), and each open
  // port's tags and score: decided once, used by the stable fast path below and by the full decision after it.
  const plans = hosts.map((host, i): HostPlan => {
    const ip = hostIps[i]!;
    const t = hostTime(host, ctx.run, ctx.now);
    const openPorts = new Map<string, IngestPort>();
    for (const p of host.ports) if (p.state === OPEN) openPorts.set(slotKey(ip, p.protocol, p.port), p);
    const ports = [...openPorts].map(([slot, p]): PortPlan => {
      const x: PortPlan = { slot, p, tagged: UNTAGGED, scored: { score: 0, features: null }, fast: undefined };
      if (!lazyTags) judge(x);
      return x;
    });
    return { host, ip, t, iso: t.toISOString(), hostnames: [...new Set(host.hostnames.map((h) => h.name).filter(Boolean))], ports };
  });
  /*
   * Stable fast path: a port seen again with the current fingerprint of its slot, open, by a newer scan and
   * another job, with the same names, tags and score, only moves its sightings row (last seen, times, checked,
   * last run/job). The database decides and writes those in the statement that reads the hosts' current rows,
   * and returns only the rows the full decision below still needs (everything else about these hosts).
   * Most of a stable pass thus never travels to this process and back (the rows, their conversion and the
   * per-port bookkeeping were a large share of the main thread: bench/HISTORY.md). A slot listed twice in
   * the batch takes the full path (its occurrences must see each other). A fast row's stored tags come back only
   * when this batch did not run the rules (`tags` null in its input): otherwise they are already known here, and
   * each stable port would carry two arrays back for nothing.
   */
  const slotCount = new Map<string, number>();
  for (const plan of plans) for (const x of plan.ports) slotCount.set(x.slot, (slotCount.get(x.slot) ?? 0) + 1);
  const candidates: PortPlan[] = [];
  const fastInput: unknown[] = [];
  for (const plan of plans) {
    for (const x of plan.ports) {
      if (slotCount.get(x.slot) !== 1) continue;
      fastInput.push({
        i: candidates.length,
        ip: plan.ip,
        protocol: x.p.protocol,
        port: x.p.port,
        hsh256: x.p.hsh256,
        t: plan.iso,
        hostnames: plan.hostnames,
        tags: lazyTags ? null : x.tagged.tags,
        rules: lazyTags ? null : x.tagged.rules,
        score: deps.scorePort ? x.scored.score : null,
      });
      candidates.push(x);
    }
  }
  // The rows a decision needs: every current row of these hosts (their slots' state, for changed/gone), and
  // the earlier rows of exactly the fingerprints seen now at their slots (for reappeared and older scans).
  // Two queries, each with its own index: one condition `ip = any(…) and (current or hsh256 = any(…))`
  // made btree probe every ip × hsh256 pair of the batch (quadratic in the batch's size).
  // (Both need statistics to be planned as index probes: see store/maintenance.ts.)
  const judging = deps.tagPort !== undefined;
  const current = await tx.query<ExistingRow & { fast: FastTuple[] | null }>(
    stableFastPathSql(judging),
    [JSON.stringify(fastInput), ips, jobId, runId, ctx.view],
    PREPARED,
  );
  const existing: ExistingRow[] = [];
  let fastCount = 0;
  const isoOfMs = isoMemo();
  for (const r of current) {
    if (r.id !== null) {
      existing.push(r);
      continue;
    }
    for (const [i, id, firstSeen, lastSeen, prevSeen, scoreTimed, tags, rules] of r.fast ?? []) {
      const x = candidates[i]!;
      x.fast = { id, firstSeen: isoOfMs(firstSeen), lastSeen: isoOfMs(lastSeen), previousSeen: isoOfMs(prevSeen), scoreTimed };
      if (lazyTags) x.tagged = { tags: tags!, rules: rules! };
      fastCount++;
    }
  }
  if (lazyTags) for (const plan of plans) for (const x of plan.ports) if (!x.fast) judge(x);
  const keys: [string, string, number, string][] = [];
  for (const plan of plans) for (const x of plan.ports) if (!x.fast) keys.push([plan.ip, x.p.protocol, x.p.port, x.p.hsh256]);
  // Earlier rows of a fingerprint, and the head of this batch's view, are needed only where the current row is not
  // this fingerprint in this view (changed, another view, reappeared, older scans): none in a stable pass, which
  // then skips this query. The view is the ingest's: one per result.
  const currentRow = new Map(existing.filter((r) => r.current).map((r) => [slotKey(r.ip, r.protocol, r.port), r]));
  const other = keys.filter((k) => {
    const c = currentRow.get(slotKey(k[0], k[1], k[2]));
    return !c || c.hsh256 !== k[3] || c.view !== ctx.view;
  });
  if (other.length > 0) {
    existing.push(
      ...(await tx.query<ExistingRow>(
        withSightings(
          `unnest($1::text[]::inet[], $2::text[], $3::int[], $4::text[]) as k(ip, protocol, port, hsh256)
       cross join lateral (select * from port_observations p
         where p.ip = k.ip and p.protocol = k.protocol and p.port = k.port and p.view = $5
           and (p.hsh256 = k.hsh256 or p.view_head) and not p.current) r`,
        ),
        [other.map((k) => k[0]), other.map((k) => k[1]), other.map((k) => k[2]), other.map((k) => k[3]), ctx.view],
        PREPARED,
      )),
    );
  }
  const orphan = existing.find((r) => r.last_seen === null);
  if (orphan)
    throw new PlumError('database', `observation ${orphan.id} has no sightings row`, { hint: 'the database is inconsistent; restore it from a backup' });
  return { plans, existing, fastCount };
}
