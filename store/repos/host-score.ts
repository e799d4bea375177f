import type { SearchFields } from '../../core/fields.ts';
import { scoreHost, type PortScoreInput, type ScoreConfig } from '../../core/score.ts';
import type { StoreSession } from '../index.ts';
import { canonicalIp } from '../../core/coverage.ts';

/*
 * What a host score is computed from, read one way for every reader: the
 * stored scores (rules apply, ingest), `plum explain` and the report's host
 * scores. Each current open port counts with its slot's first sighting and
 * its slot's last change (in any view).
 */

export interface ObsRow {
  id: string;
  ip: string;
  protocol: string;
  port: number;
  hsh256: string;
  current: boolean;
  state: string;
  first_seen: Date;
  last_seen: Date;
  tags: string[];
  rules: string[];
  score: number;
  score_features: Record<string, unknown> | null;
  score_timed: boolean | null;
  fields: SearchFields | null;
  slot_first: Date;
  changed_at: Date | null;
}

/**
 * The documents whose fact tags depend on the time they are judged at (core/rules/facts.ts: certificate
 * dates). Any other document tags the same at every time, so time-dependent rules give it what it stores.
 */
const HAS_CERT_DATES = `(coalesce(o.fields -> 'x509_not_after', '[]') <> '[]' or coalesce(o.fields -> 'x509_not_before', '[]') <> '[]')`;

/**
 * Observations of one ip ($1 inet) or of many ($1 inet[]), with the slot's first sighting and its last change.
 * Both are the slot's (ip, protocol, port), not the row's: with views (core/history/view.ts) the current row is
 * whichever view scanned last, so a `banner` sighting right after a `web` change must not hide that change.
 * `fields`: read every document's fields, none, only those of the ids in $2 (text[]), or only those with
 * certificate dates.
 */
export function selectObsSql(withFields: boolean | 'listed' | 'dated', oneIp = false): string {
  const cond = oneIp ? '= $1::inet' : '= any($1::inet[])';
  const fields =
    withFields === 'listed'
      ? 'case when o.id = any($2::text[]) then o.fields end as fields'
      : withFields === 'dated'
        ? `case when ${HAS_CERT_DATES} then o.fields end as fields`
        : withFields
          ? 'o.fields'
          : 'null::jsonb as fields';
  // Each row's sighting by primary key, through a lateral subquery the planner cannot flatten: joined plainly, it
  // hash-joins the whole sightings table for each batch of hosts.
  return `select o.id, host(o.ip) as ip, o.protocol, o.port, o.hsh256, o.current, o.state, o.first_seen, s.last_seen,
      o.tags, o.rules, o.score, o.score_features, o.score_timed, ${fields},
      min(o.first_seen) over (partition by o.ip, o.protocol, o.port) as slot_first, c.changed_at
    from port_observations o
    join lateral (select last_seen from observation_sightings s where s.id = o.id offset 0) s on true
    left join (select ip, protocol, port, max(at) as changed_at from observation_events
               where ip ${cond} and type = 'changed' group by ip, protocol, port) c
      on c.ip = o.ip and c.protocol = o.protocol and c.port = o.port
    where o.ip ${cond}`;
}

/**
 * `at` is when the score is judged, the wall clock of whoever computes it (ingest's rescoring, rules apply,
 * explain, a report): first sighting and last change are scan times, so a port found by a scan of 2013 that
 * is imported today is years old, not new.
 */
export const portInput = (r: Pick<ObsRow, 'tags' | 'slot_first' | 'changed_at'>, at: Date, tags = r.tags): PortScoreInput => ({
  tags,
  firstSeen: r.slot_first,
  changedAt: r.changed_at,
  at,
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

/**
 * Stores the host score of each ip from its current open ports' inputs (an ip without any loses its score).
 * Rows whose score, band, port count and features are unchanged are not rewritten. Returns the hosts scored.
 */
export async function writeHostScores(tx: StoreSession, openByIp: ReadonlyMap<string, PortScoreInput[]>, cfg: ScoreConfig): Promise<number> {
  const hostRows: { ip: string; score: number; band: string; features: unknown; open_ports: number }[] = [];
  const noPorts: string[] = [];
  for (const [ip, ports] of openByIp) {
    if (ports.length === 0) {
      noPorts.push(ip);
      continue;
    }
    const h = scoreHost(ports, cfg);
    hostRows.push({ ip, score: h.score, band: h.band, features: h.features, open_ports: ports.length });
  }
  if (hostRows.length > 0) {
    await tx.query(
      `insert into host_scores (ip, score, band, features, open_ports, computed_at)
       select x.ip::inet, x.score, x.band, x.features, x.open_ports, now()
       from jsonb_to_recordset($1::jsonb) as x(ip text, score int, band text, features jsonb, open_ports int)
       on conflict (ip) do update set score = excluded.score, band = excluded.band, features = excluded.features,
         open_ports = excluded.open_ports, computed_at = excluded.computed_at
       where (host_scores.score, host_scores.band, host_scores.open_ports, host_scores.features)
         is distinct from (excluded.score, excluded.band, excluded.open_ports, excluded.features)`,
      [JSON.stringify(hostRows)],
    );
  }
  if (noPorts.length > 0) await tx.query('delete from host_scores where ip = any($1::inet[])', [noPorts]);
  return hostRows.length;
}
