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
 * Hosts with open ports and open ports now, without reading every port document: host_scores holds each
 * host's current open ports (open_ports, rewritten by the rescoring that follows every ingest batch), and
 * the hosts still owed that rescoring (pending_rescores, queued in the batch's own transaction) are counted
 * from their port documents instead. So the figures equal a direct count over port_observations at any time.
 */
export const OPEN_COUNTS_SQL = `
  select (s.hosts + l.hosts)::int as hosts, (s.ports + l.ports)::int as ports
  from (select count(*) as hosts, coalesce(sum(h.open_ports), 0) as ports from host_scores h
         where h.open_ports > 0 and not exists (select 1 from pending_rescores p where p.ip = h.ip)) s,
       (select count(distinct o.ip) as hosts, count(*) as ports from port_observations o
         where o.current and o.state = 'open' and o.ip in (select ip from pending_rescores)) l`;

/**
 * The figures of the web overview, each one aggregate over a small table or an indexed column
 * (per-host counts, stored host scores, events of the last week, a sample of recent ports).
 */
export async function loadOverview(store: StoreSession, now = new Date()): Promise<Overview> {
  const day = new Date(now.getTime() - 86_400_000);
  const week = new Date(now.getTime() - 7 * 86_400_000);
  const [counts] = await store.query<{ hosts: number; ports: number }>(OPEN_COUNTS_SQL);
  const bands = await store.query<{ band: string; hosts: number }>(
    'select band, count(*)::int as hosts from host_scores where open_ports > 0 group by band order by min(score) desc');
  const events = await store.query<{ type: string; day: number; week: number }>(
    `select type, count(*) filter (where at >= $1::timestamptz)::int as day, count(*)::int as week
       from observation_events where at >= $2::timestamptz group by type order by type`, [day.toISOString(), week.toISOString()]);
  // Top tags and services over the most recent open ports only: reading every port's fields costs
  // seconds at millions of documents (bench/web.ts), a bounded sample a fraction of that.
  const sample = `(select tags, fields from port_observations where current and state = 'open' order by id desc limit ${TOP_SAMPLE}) p`;
  const topTags = await store.query<{ tag: string; ports: number }>(
    `select t as tag, count(*)::int as ports from ${sample}, unnest(p.tags) as t group by t order by count(*) desc, t limit 10`);
  const topServices = await store.query<{ service: string; ports: number }>(
    `select coalesce(p.fields->'service_name'->>0, '(unknown)') as service, count(*)::int as ports from ${sample}
      group by 1 order by count(*) desc, 1 limit 10`);
  return { openHosts: counts?.hosts ?? 0, openPorts: counts?.ports ?? 0, bands, events, topTags, topServices };
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
      where p.enabled order by p.name`);
  return rows.map((r) => ({ profile: r.name, cycle: r.cycle, lastStart: r.started_at, lastFinish: r.finished_at, lastStatus: r.status }));
}
