import type { FieldDiff } from '../../core/history/diff.ts';
import type { FlappingRule } from '../../core/history/flapping.ts';
import type { ChangeType } from '../../core/report/model.ts';
import type { StoreSession } from '../index.ts';
import { flappingSql, flappingStartsSql } from './flapping.ts';
import { eventColumns, type HistoryEvent } from './observations.ts';

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
  /** The gone that starts a port's flapping (the first flapping event after none); judged for webhooks only (eventsAfterCursor). */
  flapping_starts: boolean;
  /** The writing transaction's id (webhook queues advance by it). */
  tx: number;
}

/**
 * `starts`: judge flapping_starts too (webhooks send that one event of a flapping bout); reports only fold flapping
 * events and leave it false, which spares a look-up of the previous event for each `gone` of a period.
 */
const columns = (flapping: FlappingRule, starts: boolean) => `e.id, e.type, host(e.ip) as ip, e.protocol, e.port, e.at, e.created_at::text as created_at,
  e.hsh256, e.previous_hsh256, e.run_id, e.observation_id, e.previous_observation_id, e.changes, e.tx, ${flappingSql('e', flapping)} as flapping,
  ${starts ? flappingStartsSql('e', flapping) : 'false'} as flapping_starts`;

const typed = (r: StoredEvent): StoredEvent => ({ ...r, port: Number(r.port), at: new Date(r.at) });

/** The events of [from, to), in time order. */
export async function eventsInPeriod(store: StoreSession, from: Date, to: Date, flapping: FlappingRule): Promise<StoredEvent[]> {
  const rows = await store.query<StoredEvent>(
    `select ${columns(flapping, false)} from observation_events e where e.at >= $1::timestamptz and e.at < $2::timestamptz order by e.at, e.id`,
    [from.toISOString(), to.toISOString()],
  );
  return rows.map(typed);
}

/**
 * Up to `limit` events after a webhook queue's cursor, in (transaction, id) order, only from transactions below
 * `settledBelow` (those that have finished: one that commits late is then never left behind the cursor).
 */
export async function eventsAfterCursor(
  store: StoreSession,
  cursor: { settledBelow: number; tx: number; id: string },
  flapping: FlappingRule,
  limit: number,
): Promise<StoredEvent[]> {
  const rows = await store.query<StoredEvent>(
    `select ${columns(flapping, true)} from observation_events e
      where e.tx < $1 and (e.tx, e.id) > ($2::bigint, $3::text) order by e.tx, e.id limit ${Math.trunc(limit)}`,
    [cursor.settledBelow, cursor.tx, cursor.id],
  );
  return rows.map(typed);
}

/** How many events of each type a job recorded. */
export async function eventCountsOfJob(store: StoreSession, jobId: string): Promise<Record<string, number>> {
  const rows = await store.query<{ type: string; n: number }>('select type, count(*)::int as n from observation_events where job_id = $1 group by type', [
    jobId,
  ]);
  return Object.fromEntries(rows.map((e) => [e.type, Number(e.n)]));
}

/** An event as the live feed (GET /v1/events) sends it. */
/** An event of the live feed: the same row as a history read, so the stream and GET /v1/history project it alike. */
export type FeedEvent = HistoryEvent;

/**
 * One page (at most `limit`) of events of the given types (a PostgreSQL array literal) with after < id <= upTo
 * (upTo optional), in id order, flapping judged under `flapping` (PLUM_FLAPPING).
 */
export function feedEventPage(store: StoreSession, types: string, limit: number, flapping: FlappingRule, after: string, upTo?: string): Promise<FeedEvent[]> {
  return upTo === undefined
    ? store.query<FeedEvent>(
        `select ${eventColumns(flapping)} from observation_events e where e.id > $1 and e.type = any($2::text[]) order by e.id limit ${Math.trunc(limit)}`,
        [after, types],
      )
    : store.query<FeedEvent>(
        `select ${eventColumns(flapping)} from observation_events e where e.id > $1 and e.id <= $3 and e.type = any($2::text[])
          order by e.id limit ${Math.trunc(limit)}`,
        [after, types, upTo],
      );
}

/** How many events of the given types (a PostgreSQL array literal) have an id in [from, to]. */
export async function feedEventCount(store: StoreSession, types: string, from: string, to: string): Promise<number> {
  const [row] = await store.query<{ n: number }>('select count(*)::int as n from observation_events where id >= $1 and id <= $2 and type = any($3::text[])', [
    from,
    to,
    types,
  ]);
  return row?.n ?? 0;
}

/** The services that went away during a run, by address and port. */
export async function goneInRun(store: StoreSession, runId: string, limit = 500): Promise<{ ip: string; protocol: string; port: number }[]> {
  const rows = await store.query<{ ip: string; protocol: string; port: number }>(
    `select host(ip) as ip, protocol, port from observation_events where run_id = $1 and type = 'gone' order by ip, port limit $2`,
    [runId, limit],
  );
  return rows.map((r) => ({ ip: r.ip, protocol: r.protocol, port: Number(r.port) }));
}
