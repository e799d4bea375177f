import type { StoreSession } from '../index.ts';

/** The stored score features of each current port of one host, by observation id. */
export async function currentScoreFeatures(store: StoreSession, ip: string): Promise<Map<string, Record<string, unknown> | null>> {
  const rows = await store.query<{ id: string; score_features: Record<string, unknown> | null }>(
    'select id, score_features from port_observations where ip = $1::inet and current',
    [ip],
  );
  return new Map(rows.map((r) => [r.id, r.score_features]));
}
