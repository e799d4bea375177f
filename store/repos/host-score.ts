import type { SearchFields } from '../../core/fields.ts';
import type { PortScoreInput } from '../../core/score.ts';
import type { StoreSession } from '../index.ts';
import { canonicalIp } from '../../core/coverage.ts';

/*
 * What a host score is computed from, read one way for every reader: the
 * stored scores (rules apply, ingest), `plum explain` and the report's host
 * scores. Each current open port counts with its slot's first sighting and
 * its fingerprint's last change.
 */

export interface ObsRow {
  id: string; ip: string; protocol: string; port: number; hsh256: string; current: boolean; state: string;
  first_seen: Date; last_seen: Date; tags: string[]; rules: string[]; score: number;
  score_features: Record<string, unknown> | null; fields: SearchFields | null; slot_first: Date; changed_at: Date | null;
}

/** Observations of one ip ($1 inet) or of many ($1 inet[]), with the slot's first sighting and the last change. */
export function selectObsSql(withFields: boolean, oneIp = false): string {
  const cond = oneIp ? '= $1::inet' : '= any($1::inet[])';
  return `select o.id, host(o.ip) as ip, o.protocol, o.port, o.hsh256, o.current, o.state, o.first_seen, s.last_seen,
      o.tags, o.rules, o.score, o.score_features, ${withFields ? 'o.fields' : 'null::jsonb as fields'},
      min(o.first_seen) over (partition by o.ip, o.protocol, o.port) as slot_first, c.changed_at
    from port_observations o
    join observation_sightings s on s.id = o.id
    left join (select observation_id, max(at) as changed_at from observation_events
               where ip ${cond} and type = 'changed' group by observation_id) c on c.observation_id = o.id
    where o.ip ${cond}`;
}

/**
 * `at` is when the score is judged, the wall clock of whoever computes it (ingest's rescoring, rules apply,
 * explain, a report): first sighting and last change are scan times, so a port found by a scan of 2013 that
 * is imported today is years old, not new.
 */
export const portInput = (r: Pick<ObsRow, 'tags' | 'slot_first' | 'changed_at'>, at: Date, tags = r.tags): PortScoreInput => ({
  tags, firstSeen: r.slot_first, changedAt: r.changed_at, at,
});

/** The score inputs of each host's current open ports (hosts without one are absent), in batches. */
export async function hostScoreInputs(store: StoreSession, ips: string[], at: Date, batch = 2000): Promise<Map<string, PortScoreInput[]>> {
  const out = new Map<string, PortScoreInput[]>();
  for (let i = 0; i < ips.length; i += batch) {
    const part = ips.slice(i, i + batch).map((ip) => canonicalIp(ip));
    const rows = await store.query<ObsRow>(`select * from (${selectObsSql(false)}) q where current and state = 'open' order by ip, protocol, port`, [part]);
    for (const r of rows) {
      let list = out.get(r.ip);
      if (!list) out.set(r.ip, (list = []));
      list.push(portInput(r, at));
    }
  }
  return out;
}

/** A host's stored score (kept by ingest and `plum rules apply`), if it has open ports. */
export async function getHostScore(store: StoreSession, ip: string): Promise<{ score: number; band: string } | undefined> {
  const [r] = await store.query<{ score: number; band: string }>('select score, band from host_scores where ip = $1::inet', [canonicalIp(ip)]);
  return r ? { score: Number(r.score), band: r.band } : undefined;
}
