import type { StoreSession } from '../index.ts';

/** Open ports the top tags and services are counted over (the most recent ones). */
export const TOP_SAMPLE = 20_000;

export interface Overview {
  openHosts: number;
  openPorts: number;
  bands: { band: string; hosts: number }[];
  events: { type: string; day: number; week: number }[];
  topTags: { tag: string; ports: number }[];
  topServices: { service: string; ports: number }[];
}

/**
 * Hosts with open ports and open ports now, and hosts by score band, in one statement (one snapshot) that
 * never reads the port documents of every host: host_scores holds each host's current open ports
 * (open_ports, rewritten by the rescoring that follows every ingest batch) and its band, read through the
 * narrow host_scores_band_idx. The hosts still owed that rescoring (pending_rescores, queued in the batch's
 * own transaction, usually none) are counted from their port documents instead of their stored row, so the
 * totals equal a direct count over port_observations at any time.
 */
const COUNTS_AND_BANDS_SQL = `
  with pending as (select ip from pending_rescores),
  stale as (select count(*) as hosts, coalesce(sum(h.open_ports), 0) as ports from host_scores h
             where h.ip in (select ip from pending) and h.open_ports > 0),
  live as (select count(distinct o.ip) as hosts, count(*) as ports from port_observations o
            where o.ip in (select ip from pending) and o.current and o.state = 'open'),
  bands as (select band, count(*) as hosts, sum(open_ports) as ports, min(score) as low from host_scores
             where open_ports > 0 group by band)
  select b.band, b.hosts::int as hosts, b.ports::int as ports, (live.hosts - stale.hosts)::int as dhosts, (live.ports - stale.ports)::int as dports
    from live cross join stale left join bands b on true
   order by b.low desc`;

/** Open ports the top tags and services are counted over, read once for both lists. */
const TOP_SQL = `
  with sample as materialized (
    select tags, coalesce(fields->'service_name'->>0, '(unknown)') as service from port_observations
     where current and state = 'open' order by id desc limit ${TOP_SAMPLE})
  (select 'tag' as kind, t as key, count(*)::int as ports, row_number() over (order by count(*) desc, t)::int as rank from sample, unnest(sample.tags) as t group by t order by count(*) desc, t limit 10)
  union all
  (select 'service' as kind, service as key, count(*)::int as ports, row_number() over (order by count(*) desc, service)::int as rank from sample group by service order by count(*) desc, service limit 10)`;

/**
 * The figures of the web overview, each one aggregate over a narrow index, a small table or a bounded
 * sample (host counts and bands, events of the last week, recent ports); the three statements run at once.
 */
export async function loadOverview(store: StoreSession, now = new Date()): Promise<Overview> {
  const day = new Date(now.getTime() - 86_400_000);
  const week = new Date(now.getTime() - 7 * 86_400_000);
  const [counted, events, top] = await Promise.all([
    store.query<{ band: string | null; hosts: number | null; ports: number | null; dhosts: number; dports: number }>(COUNTS_AND_BANDS_SQL),
    store.query<{ type: string; day: number; week: number }>(
      `select type, count(*) filter (where at >= $1::timestamptz)::int as day, count(*)::int as week
         from observation_events where at >= $2::timestamptz group by type order by type`,
      [day.toISOString(), week.toISOString()],
    ),
    // Top tags and services over the most recent open ports only: reading every port's fields costs
    // seconds at millions of documents (bench/web.ts), a bounded sample a fraction of that.
    store.query<{ kind: 'tag' | 'service'; key: string; ports: number; rank: number }>(TOP_SQL),
  ]);
  top.sort((a, b) => a.rank - b.rank);
  const bands = counted.filter((r) => r.band !== null).map((r) => ({ band: r.band!, hosts: r.hosts! }));
  const stored = counted.reduce((a, r) => ({ hosts: a.hosts + (r.hosts ?? 0), ports: a.ports + (r.ports ?? 0) }), { hosts: 0, ports: 0 });
  return {
    openHosts: stored.hosts + (counted[0]?.dhosts ?? 0),
    openPorts: stored.ports + (counted[0]?.dports ?? 0),
    bands,
    events,
    topTags: top.filter((r) => r.kind === 'tag').map((r) => ({ tag: r.key, ports: r.ports })),
    topServices: top.filter((r) => r.kind === 'service').map((r) => ({ service: r.key, ports: r.ports })),
  };
}

export interface CoverageRow {
  profile: string;
  cycle: string;
  lastStart: Date | null;
  lastFinish: Date | null;
  lastStatus: string | null;
}

/** Each enabled profile with its last finished run (the page decides, with core/profiles nextDue, whether it is overdue). */
export async function profileCoverage(store: StoreSession): Promise<CoverageRow[]> {
  const rows = await store.query<{ name: string; cycle: string; started_at: Date | null; finished_at: Date | null; status: string | null }>(
    `select p.name, p.cycle, r.started_at, r.finished_at, r.status
       from scan_profiles p
       left join lateral (select started_at, finished_at, status from runs where profile_id = p.id and finished_at is not null
                          order by finished_at desc limit 1) r on true
      where p.enabled order by p.name`,
  );
  return rows.map((r) => ({ profile: r.name, cycle: r.cycle, lastStart: r.started_at, lastFinish: r.finished_at, lastStatus: r.status }));
}
