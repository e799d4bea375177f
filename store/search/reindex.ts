import { sql } from 'drizzle-orm';
import type { ObservationRow } from '../repos/observation-rows.ts';
import type { StoreSession } from '../index.ts';
import type { MeiliIndexer } from './meili.ts';

export interface ReindexOptions {
  meili?: MeiliIndexer;
  /** Documents per batch (default 5000). */
  batch?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface ReindexSummary {
  backend: 'meilisearch' | 'postgres';
  indexed: number;
  removed: number;
  message: string;
}

/**
 * `plum search reindex`. PostgreSQL's search columns are generated from each
 * row (search_text, search_tsv), so they cannot drift: there it only refreshes
 * the planner statistics. With Meilisearch, every current open port is upserted
 * by id (idempotent; safe to run again after an interruption) and the ids of
 * replaced or closed observations are deleted.
 */
export async function reindexSearch(store: StoreSession, opts: ReindexOptions = {}): Promise<ReindexSummary> {
  const batch = opts.batch ?? 5000;
  if (!opts.meili) {
    await store.query('analyze port_observations');
    const [c] = await store.query<{ n: number }>(`select count(*)::int as n from port_observations where current and state = 'open'`);
    return {
      backend: 'postgres',
      indexed: c?.n ?? 0,
      removed: 0,
      message: `PostgreSQL search columns are generated with each row; statistics refreshed (${c?.n ?? 0} open ports searchable)`,
    };
  }
  const meili = opts.meili;
  await meili.ensureSettings();
  const [t] = await store.query<{ n: number }>(`select count(*)::int as n from port_observations where current and state = 'open'`);
  const total = t?.n ?? 0;
  let done = 0;
  let after = '';
  for (;;) {
    const rows = await store.query<
      Pick<ObservationRow, 'id' | 'ip' | 'protocol' | 'port' | 'first_seen' | 'last_seen' | 'fields' | 'tags' | 'score'>
    >(sql`select id, host(ip) as ip, protocol, port, first_seen, last_seen, fields, tags, score from port_observations join observation_sightings using (id)
           where current and state = 'open' and id > ${after} order by id limit ${batch}`);
    if (rows.length === 0) break;
    await meili.upsert(
      rows.map((r) => ({
        id: r.id,
        ip: r.ip,
        protocol: r.protocol,
        port: r.port,
        firstSeen: r.first_seen,
        lastSeen: r.last_seen,
        fields: r.fields,
        tags: r.tags,
        score: r.score,
      })),
    );
    done += rows.length;
    after = rows[rows.length - 1]!.id;
    opts.onProgress?.(done, total);
  }
  let removed = 0;
  after = '';
  for (;;) {
    const rows = await store.query<{ id: string }>(sql`select id from port_observations
      where not (current and state = 'open') and id > ${after} order by id limit ${batch}`);
    if (rows.length === 0) break;
    await meili.remove(rows.map((r) => r.id));
    removed += rows.length;
    after = rows[rows.length - 1]!.id;
  }
  return {
    backend: 'meilisearch',
    indexed: done,
    removed,
    message: `Meilisearch index ${meili.indexUid}: ${done} open ports indexed, ${removed} old or closed observations removed`,
  };
}
