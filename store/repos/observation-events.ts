import type { FieldDiff } from '../../core/history/diff.ts';
import type { FlappingRule } from '../../core/history/flapping.ts';
import type { ChangeType } from '../../core/report/model.ts';
import type { StoreSession } from '../index.ts';
import { flappingSql } from './flapping.ts';

/** Reads of observation_events for reports and webhooks: one row shape, with the flapping mark computed in SQL. */

export interface StoredEvent {
  id: string;
  type: ChangeType;
  ip: string;
  protocol: string;
  port: number;
  at: Date;
  /** Text, to keep PostgreSQL's microseconds in a webhook's cursor (a JS Date would truncate them). */
  created_at: string;
  hsh256: string;
  previous_hsh256: string | null;
  run_id: string | null;
  observation_id: string;
  previous_observation_id: string | null;
  changes: FieldDiff[] | null;
  /** A gone/reappeared of a flapping port (PLUM_FLAPPING). */
  flapping: boolean;
  /** The writing transaction's id (webhook queues advance by it). */
  tx: number;
}

const columns = (flapping: FlappingRule) => `e.id, e.type, host(e.ip) as ip, e.protocol, e.port, e.at, e.created_at::text as created_at, e.hsh256,
  e.previous_hsh256, e.run_id, e.observation_id, e.previous_observation_id, e.changes, e.tx, ${flappingSql('e', flapping)} as flapping`;

const typed = (r: StoredEvent): StoredEvent => ({ ...r, port: Number(r.port), at: new Date(r.at) });

/** The events of [from, to), in time order. */
export async function eventsInPeriod(store: StoreSession, from: Date, to: Date, flapping: FlappingRule): Promise<StoredEvent[]> {
  const rows = await store.query<StoredEvent>(
    `select ${columns(flapping)} from observation_events e where e.at >= $1::timestamptz and e.at < $2::timestamptz order by e.at, e.id`,
    [from.toISOString(), to.toISOString()],
  );
  return rows.map(typed);
}

/**
 * Up to `limit` events after a webhook queue's cursor, in (transaction, id) order, only from transactions below
 * `settledBelow` (those that have finished: one that commits late is then never left behind the cursor).
 */
export async function eventsAfterCursor(
  store: StoreSession, cursor: { settledBelow: number; tx: number; id: string }, flapping: FlappingRule, limit: number,
): Promise<StoredEvent[]> {
  const rows = await store.query<StoredEvent>(
    `select ${columns(flapping)} from observation_events e
      where e.tx < $1 and (e.tx, e.id) > ($2::bigint, $3::text) order by e.tx, e.id limit ${Math.trunc(limit)}`,
    [cursor.settledBelow, cursor.tx, cursor.id],
  );
  return rows.map(typed);
}
