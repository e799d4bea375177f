import type { SearchFields } from '../core/fields.ts';
import type { StoreSession } from '../store/index.ts';

/** One open service a run saw, and what the run changed about it. */
export interface RunFinding {
  ip: string;
  protocol: string;
  port: number;
  /** appeared / reappeared / changed in this run, or null when it was already known as is. */
  event: 'appeared' | 'reappeared' | 'changed' | null;
  service: string;
  tags: string[];
  score: number;
  firstSeen: string;
}

/** A service's one-line description from its search fields. */
export function describeService(f: Partial<SearchFields>): string {
  const name = [f.service_name?.[0], f.service_product?.[0], f.service_version?.[0]].filter(Boolean).join(' ');
  const title = f.http_title?.[0] ? `title "${f.http_title[0]}"` : '';
  const banner = !title && f.banner?.[0] ? `banner "${f.banner[0].replace(/\s+/g, ' ').slice(0, 60)}"` : '';
  return [name, title, banner].filter(Boolean).join(', ');
}

/** What a run found: its current open services, new ones first, then by score. */
export async function runFindings(store: StoreSession, runId: string, limit = 500): Promise<RunFinding[]> {
  const rows = await store.query<{
    ip: string; protocol: string; port: number; fields: SearchFields; tags: string[]; score: number; first_seen: Date; event: string | null;
  }>(
    `select host(o.ip) as ip, o.protocol, o.port, o.fields, o.tags, o.score, o.first_seen,
       (select e.type from observation_events e where e.observation_id = o.id and e.run_id = $1 and e.type <> 'gone'
        order by e.at desc limit 1) as event
     from port_observations o join observation_sightings s on s.id = o.id
     where s.last_run_id = $1 and o.current and o.state = 'open'
     order by (select count(*) from observation_events e where e.observation_id = o.id and e.run_id = $1) desc, o.score desc, o.ip, o.port
     limit $2`,
    [runId, limit]);
  return rows.map((r) => ({
    ip: r.ip, protocol: r.protocol, port: Number(r.port), event: (r.event as RunFinding['event']) ?? null,
    service: describeService(r.fields ?? {}), tags: r.tags ?? [], score: Number(r.score ?? 0),
    firstSeen: new Date(r.first_seen).toISOString(),
  }));
}

/** Services that went away during a run. */
export async function runGone(store: StoreSession, runId: string, limit = 500): Promise<{ ip: string; protocol: string; port: number }[]> {
  const rows = await store.query<{ ip: string; protocol: string; port: number }>(
    `select host(ip) as ip, protocol, port from observation_events where run_id = $1 and type = 'gone' order by ip, port limit $2`, [runId, limit]);
  return rows.map((r) => ({ ip: r.ip, protocol: r.protocol, port: Number(r.port) }));
}
