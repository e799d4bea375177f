import type { FieldDiff } from '../../core/history/diff.ts';
import type { SearchFields } from '../../core/fields.ts';
import { PlumError } from '../../core/errors.ts';
import type { StoreSession } from '../index.ts';
import type { ObservationRow } from './observation-rows.ts';
import { EVENT_TYPES, type EventType } from '../schema/observation-events.ts';
import { canonicalIp } from '../../core/coverage.ts';
import { DEFAULT_FLAPPING, parseFlapping, type FlappingRule } from '../../core/history/flapping.ts';
import { flappingAtSql, flappingSql } from './flapping.ts';

/** One service of a host as `plum host` and the API show it. */
export interface HostService {
  id: string;
  protocol: string;
  port: number;
  hsh256: string;
  fp_version: number;
  state: 'open' | 'closed';
  first_seen: Date;
  last_seen: Date;
  times_seen: number;
  state_changed_at: Date;
  hostnames: string[];
  fields: SearchFields;
  tags: string[];
  score: number;
  /** The slot is flapping now: it went away PLUM_FLAPPING's count of times within the window up to now. */
  flapping: boolean;
}

/** One entry of the change feed. */
export interface HistoryEvent {
  id: string;
  type: EventType;
  ip: string;
  protocol: string;
  port: number;
  at: Date;
  hsh256: string;
  previous_hsh256: string | null;
  observation_id: string;
  previous_observation_id: string | null;
  run_id: string | null;
  job_id: string | null;
  /** changed: what changed, field by field (core/history/diff.ts); null for other events and older changes. */
  changes: FieldDiff[] | null;
  /** A gone/reappeared of a port flapping at the event's time (PLUM_FLAPPING); false for other event types. */
  flapping: boolean;
}

export interface HostView {
  ip: string;
  first_seen: Date | null;
  last_seen: Date | null;
  hostnames: string[];
  tags: string[];
  services: HostService[];
  events: HistoryEvent[];
}

/**
 * The columns of a HistoryEvent, for every read of observation_events (alias `e`) that returns one. Flapping is
 * judged as the events are read, under the rule given (docs/internals.md), as reports and webhooks judge it.
 */
export const eventColumns = (rule: FlappingRule) => `e.id, e.type, host(e.ip) as ip, e.protocol, e.port, e.at, e.hsh256, e.previous_hsh256,
  e.observation_id, e.previous_observation_id, e.run_id, e.job_id, e.changes, ${flappingSql('e', rule)} as flapping`;

/** PLUM_FLAPPING's default, for readers given no rule (tests, the demo); the servers and the CLI pass the configured one. */
const defaultRule = (rule: FlappingRule | undefined) => rule ?? parseFlapping(DEFAULT_FLAPPING);

/**
 * A host's current services (open, and closed ones that were open before) and
 * its full event history, newest first. Undefined when nothing is known of it.
 */
export async function getHostView(
  store: StoreSession,
  ipText: string,
  opts: { eventLimit?: number; flapping?: FlappingRule; now?: Date } = {},
): Promise<HostView | undefined> {
  let ip: string;
  try {
    ip = canonicalIp(ipText);
  } catch {
    throw new PlumError('usage', `"${ipText}" is not an IP address`, { hint: 'give an IPv4 or IPv6 address, e.g. plum host 192.0.2.10' });
  }
  const rule = defaultRule(opts.flapping);
  const services = await store.query<HostService>(
    `select id, protocol, port, hsh256, fp_version, state, first_seen, last_seen, times_seen, state_changed_at, hostnames,
       fields, tags, score, ${flappingAtSql('o', '$2::timestamptz', rule)} as flapping
     from port_observations o join observation_sightings using (id) where ip = $1::inet and current
     order by state desc, protocol, port`,
    [ip, (opts.now ?? new Date()).toISOString()],
  );
  const events = await store.query<HistoryEvent>(
    `select ${eventColumns(rule)} from observation_events e where e.ip = $1::inet order by at desc, port limit $2`,
    [ip, opts.eventLimit ?? 1000],
  );
  const [span] = await store.query<{ first_seen: Date | null; last_seen: Date | null }>(
    'select min(first_seen) as first_seen, max(last_seen) as last_seen from port_observations join observation_sightings using (id) where ip = $1::inet',
    [ip],
  );
  if (services.length === 0 && events.length === 0 && !span?.first_seen) return undefined;
  const open = services.filter((s) => s.state === 'open');
  return {
    ip,
    first_seen: span?.first_seen ?? null,
    last_seen: span?.last_seen ?? null,
    hostnames: [...new Set(open.flatMap((s) => s.hostnames))].sort(),
    tags: [...new Set(open.flatMap((s) => s.tags))].sort(),
    services,
    events,
  };
}

export interface HistoryQuery {
  since?: Date;
  until?: Date;
  types?: EventType[];
  /** An address or a CIDR. */
  net?: string;
  /** Only events of observations carrying this tag (exactly). */
  tag?: string;
  limit?: number;
  /** PLUM_FLAPPING, which marks (and with hideFlapping drops) a flapping port's gone/reappeared events. */
  flapping?: FlappingRule;
  /** Leave out the gone/reappeared events of flapping ports; every other event stays. */
  hideFlapping?: boolean;
}

/** The change feed, newest first. */
export async function listEvents(store: StoreSession, q: HistoryQuery = {}): Promise<HistoryEvent[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (clause: string, value: unknown) => {
    params.push(value);
    where.push(clause.replace('?', `$${params.length}`));
  };
  const rule = defaultRule(q.flapping);
  if (q.since) add('e.at >= ?::timestamptz', q.since.toISOString());
  if (q.until) add('e.at < ?::timestamptz', q.until.toISOString());
  if (q.types && q.types.length > 0 && q.types.length < EVENT_TYPES.length) add('e.type = any(?::text[])', q.types);
  if (q.net) add('e.ip <<= ?::inet', q.net);
  if (q.tag) add('exists (select 1 from observation_tags t where t.id = e.observation_id and t.tags @> array[?::text])', q.tag);
  if (q.hideFlapping) where.push(`not ${flappingSql('e', rule)}`);
  params.push(q.limit ?? 10_000);
  return store.query<HistoryEvent>(
    `select ${eventColumns(rule)} from observation_events e ${where.length ? `where ${where.join(' and ')}` : ''}
     order by at desc, ip, port limit $${params.length}`,
    params,
  );
}

/** The events a run recorded, in time order (at most 10,000). */
export async function eventsOfRun(store: StoreSession, runId: string, flapping?: FlappingRule): Promise<HistoryEvent[]> {
  return store.query<HistoryEvent>(
    `select ${eventColumns(defaultRule(flapping))} from observation_events e where e.run_id = $1 order by at, ip, port limit 10000`,
    [runId],
  );
}

/** A current service a run saw last, with the search fields an investigation shows. */
export type RunService = Pick<ObservationRow, 'ip' | 'protocol' | 'port' | 'state' | 'hsh256' | 'tags' | 'score' | 'first_seen' | 'last_seen'> & {
  service: string | null;
  product: string | null;
  title: string | null;
  banner: string | null;
};

/** The current services a run saw last, by address and port (at most 10,000). */
export async function currentServicesOfRun(store: StoreSession, runId: string): Promise<RunService[]> {
  return store.query<RunService>(
    `select host(ip) as ip, protocol, port, state, hsh256, tags, score, first_seen, last_seen,
            fields->'service_name'->>0 as service, fields->'service_product'->>0 as product,
            fields->'http_title'->>0 as title, left(fields->'banner'->>0, 500) as banner
       from port_observations join observation_sightings using (id) where last_run_id = $1 and current order by ip, protocol, port limit 10000`,
    [runId],
  );
}

/** Up to 1,000 addresses whose services a run saw last. */
export async function addressesSeenLastByRun(store: StoreSession, runId: string): Promise<string[]> {
  const rows = await store.query<{ ip: string }>(
    'select distinct host(ip) as ip from port_observations join observation_sightings using (id) where last_run_id = $1 limit 1000',
    [runId],
  );
  return rows.map((r) => r.ip);
}

/** Open ports a job saw last, and on how many hosts. */
export async function openCountsOfJob(store: StoreSession, jobId: string): Promise<{ ports: number; hosts: number }> {
  const [open] = await store.query<{ ports: number; hosts: number }>(
    `select count(*)::int as ports, count(distinct ip)::int as hosts from port_observations join observation_sightings using (id) where last_job_id = $1 and state = 'open'`,
    [jobId],
  );
  return { ports: Number(open?.ports ?? 0), hosts: Number(open?.hosts ?? 0) };
}

/** A current open service a run saw last, with the latest appeared/reappeared/changed event the run recorded for it. */
export type RunOpenService = Pick<ObservationRow, 'ip' | 'protocol' | 'port' | 'fields' | 'tags' | 'score' | 'first_seen'> & { event: string | null };

/** The current open services a run saw last: those it changed most first, then by score. */
export async function openServicesOfRun(store: StoreSession, runId: string, limit = 500): Promise<RunOpenService[]> {
  return store.query<RunOpenService>(
    `select host(o.ip) as ip, o.protocol, o.port, o.fields, o.tags, o.score, o.first_seen,
       (select e.type from observation_events e where e.observation_id = o.id and e.run_id = $1 and e.type <> 'gone'
        order by e.at desc limit 1) as event
     from port_observations o join observation_sightings s on s.id = o.id
     where s.last_run_id = $1 and o.current and o.state = 'open'
     order by (select count(*) from observation_events e where e.observation_id = o.id and e.run_id = $1) desc, o.score desc, o.ip, o.port
     limit $2`,
    [runId, limit],
  );
}
