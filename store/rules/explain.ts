import { canonicalIp } from '../../core/coverage.ts';
import { PlumError } from '../../core/errors.ts';
import type { SearchFields } from '../../core/fields.ts';
import { scoreHost, scorePort, type ScoreConfig, type ScoreResult } from '../../core/score.ts';
import type { StoreSession } from '../index.ts';
import { portInput, selectObsSql, type ObsRow } from '../repos/host-score.ts';

export interface PortExplanation extends ScoreResult {
  protocol: string;
  port: number;
  hsh256: string;
  tags: string[];
}

export interface HostExplanation extends ScoreResult {
  ip: string;
  ports: PortExplanation[];
}

/**
 * The score of a host and of each of its open ports, computed from the stored
 * tags and history with the given configuration (what apply and ingest store).
 */
export async function explainHost(store: StoreSession, ip: string, cfg: ScoreConfig, at = new Date()): Promise<HostExplanation> {
  const canon = canonicalIp(ip);
  const rows = await store.query<ObsRow>(`select * from (${selectObsSql(false, true)}) q where current and state = 'open' order by protocol, port`, [canon]);
  if (rows.length === 0) {
    const known = await store.query<{ n: number }>('select count(*)::int as n from port_observations where ip = $1::inet', [canon]);
    if ((known[0]?.n ?? 0) === 0) {
      throw new PlumError('not_found', `no observation of ${canon}`, {
        hint: 'scan or ingest it first, or check the address with `plum search ip:' + canon + '`',
      });
    }
  }
  const ports = rows.map((r) => ({ protocol: r.protocol, port: r.port, hsh256: r.hsh256, tags: r.tags, ...scorePort(portInput(r, at), cfg) }));
  const host = scoreHost(
    rows.map((r) => portInput(r, at)),
    cfg,
  );
  return { ip: canon, ...host, ports };
}

/** Current open port documents of one ip, for `plum rules test RULE IP`. */
export async function hostDocuments(
  store: StoreSession,
  ip: string,
): Promise<{ protocol: string; port: number; hsh256: string; fields: SearchFields; tags: string[]; last_seen: Date }[]> {
  const canon = canonicalIp(ip);
  return store.query(
    `select protocol, port, hsh256, fields, tags, last_seen from port_observations join observation_sightings using (id)
     where ip = $1::inet and current and state = 'open' order by protocol, port`,
    [canon],
  );
}
