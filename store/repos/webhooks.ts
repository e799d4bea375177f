import { randomBytes } from 'node:crypto';
import { and, asc, desc, eq, inArray, isNotNull, lte, or, sql } from 'drizzle-orm';
import { PlumError, usageError } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import { assertPublicDestination, type DestinationOptions } from '../../core/report/webhook-destination.ts';
import type { StoreSession } from '../index.ts';
import { webhookDeliveries, type WebhookDeliveryRow } from '../schema/webhook-deliveries.ts';
import { webhooks, type WebhookRow } from '../schema/webhooks.ts';

export type { WebhookRow, WebhookDeliveryRow };

export const WEBHOOK_EVENT_TYPES = ['appeared', 'changed', 'gone', 'reappeared'] as const;

export function parseWebhookUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw usageError(`invalid webhook URL "${text}"`, 'use a full http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError(`webhook URL must be http(s): "${text}"`, 'use a full http:// or https:// URL');
  return url.toString();
}

export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/**
 * The transaction id below which every transaction of this database has finished: events written by
 * transactions under it can no longer appear behind a cursor. The snapshot's in-progress ids of other
 * databases on the same server (pg_stat_activity) do not hold it back; an id whose database cannot be
 * seen does (the safe side).
 */
const SETTLED_BELOW = `(select coalesce(
    (select min(x::text::bigint) from pg_snapshot_xip(cur.snap) as x where not exists (
      select 1 from pg_stat_activity a
       where a.backend_xid::text::bigint = x::text::bigint % 4294967296 and a.datname is distinct from current_database())),
    pg_snapshot_xmax(cur.snap)::text::bigint)
  from (select pg_current_snapshot() as snap) cur)`;

export interface NewWebhook {
  name: string;
  url: string;
  query?: string;
  reportId?: string;
  eventTypes?: string[];
  secret?: string;
}

export async function createWebhook(store: StoreSession, input: NewWebhook, now = new Date(), destination: DestinationOptions = {}): Promise<WebhookRow> {
  if (!/^[a-z0-9][a-z0-9_.:-]{0,99}$/i.test(input.name)) {
    throw usageError(`invalid webhook name "${input.name}"`, 'use letters, digits, dot, colon, dash or underscore (max 100)');
  }
  const url = parseWebhookUrl(input.url);
  await assertPublicDestination(url, destination);
  const eventTypes = input.eventTypes ?? ['appeared', 'changed', 'reappeared'];
  for (const t of eventTypes) {
    if (!(WEBHOOK_EVENT_TYPES as readonly string[]).includes(t)) throw usageError(`unknown event type "${t}"`, `use ${WEBHOOK_EVENT_TYPES.join(', ')}`);
  }
  const dup = await store.db.select({ id: webhooks.id }).from(webhooks).where(eq(webhooks.name, input.name));
  if (dup.length)
    throw new PlumError('conflict', `a webhook named "${input.name}" already exists`, {
      hint: `remove it with \`plum webhook rm ${input.name}\` or pick another name`,
    });
  const [row] = await store.db
    .insert(webhooks)
    .values({
      id: newId('hook'),
      name: input.name,
      url,
      secret: input.secret ?? newWebhookSecret(),
      query: input.query?.trim() ?? '',
      reportId: input.reportId ?? null,
      eventTypes,
      // Only events committed from now on are sent: a new webhook is not flooded with history.
      // Every transaction below the settled bound has finished, so its events are history.
      cursorAt: now,
      cursorTx: sql.raw(SETTLED_BELOW),
      cursorId: '',
      createdAt: now,
    })
    .returning();
  return row!;
}

export async function findWebhook(store: StoreSession, idOrName: string): Promise<WebhookRow | undefined> {
  const rows = await store.db
    .select()
    .from(webhooks)
    .where(or(eq(webhooks.id, idOrName), eq(webhooks.name, idOrName)));
  return rows[0];
}

export async function deleteWebhook(store: StoreSession, idOrName: string): Promise<WebhookRow> {
  const row = await findWebhook(store, idOrName);
  if (!row) throw new PlumError('not_found', `no webhook "${idOrName}"`, { hint: 'list them with `plum webhook list`' });
  await store.db.delete(webhooks).where(eq(webhooks.id, row.id));
  return row;
}

export async function webhooksOfReport(store: StoreSession, reportId: string): Promise<WebhookRow[]> {
  return store.db.select().from(webhooks).where(eq(webhooks.reportId, reportId)).orderBy(asc(webhooks.name));
}

export async function enabledWebhooks(store: StoreSession): Promise<WebhookRow[]> {
  return store.db.select().from(webhooks).where(eq(webhooks.enabled, true)).orderBy(asc(webhooks.name));
}

export interface WebhookStatus {
  id: string;
  name: string;
  url: string;
  query: string;
  report: string | null;
  eventTypes: string[];
  enabled: boolean;
  delivered: number;
  pending: number;
  failed: number;
  lastDeliveryAt: string | null;
  lastStatus: string | null;
  lastError: string | null;
}

/** Webhooks with delivery counters and the latest delivery outcome (what `plum webhook list` and the API show). */
export async function listWebhookStatus(store: StoreSession): Promise<WebhookStatus[]> {
  const rows = await store.query<{
    id: string;
    name: string;
    url: string;
    query: string;
    report: string | null;
    event_types: string[];
    enabled: boolean;
    delivered: number;
    pending: number;
    failed: number;
    last_at: Date | null;
    last_status: string | null;
    last_error: string | null;
  }>(`
    select w.id, w.name, w.url, w.query, r.name as report, w.event_types, w.enabled,
      (select count(*)::int from webhook_deliveries d where d.webhook_id = w.id and d.status = 'delivered') as delivered,
      (select count(*)::int from webhook_deliveries d where d.webhook_id = w.id and d.status = 'pending') as pending,
      (select count(*)::int from webhook_deliveries d where d.webhook_id = w.id and d.status = 'failed') as failed,
      l.last_at, l.status as last_status, l.error as last_error
    from webhooks w
    left join report_definitions r on r.id = w.report_id
    left join lateral (
      select coalesce(d.last_attempt_at, d.created_at) as last_at, d.status, d.error
      from webhook_deliveries d where d.webhook_id = w.id order by d.created_at desc, d.id desc limit 1
    ) l on true
    order by w.name`);
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    url: r.url,
    query: r.query,
    report: r.report,
    eventTypes: r.event_types,
    enabled: r.enabled,
    delivered: r.delivered,
    pending: r.pending,
    failed: r.failed,
    lastDeliveryAt: r.last_at ? new Date(r.last_at).toISOString() : null,
    lastStatus: r.last_status,
    lastError: r.last_error,
  }));
}

export async function insertDelivery(
  store: StoreSession,
  input: {
    webhookId: string;
    kind: 'events' | 'report';
    payload: Record<string, unknown>;
    eventCount: number;
    now: Date;
    /** When another dispatcher may first try it (default `now`): a delivery the caller tries at once is reserved for it. */
    firstAttemptAt?: Date;
  },
): Promise<WebhookDeliveryRow> {
  const [row] = await store.db
    .insert(webhookDeliveries)
    .values({
      id: newId('dlv'),
      webhookId: input.webhookId,
      kind: input.kind,
      payload: input.payload,
      eventCount: input.eventCount,
      status: 'pending',
      nextAttemptAt: input.firstAttemptAt ?? input.now,
      // Strictly after the webhook's previous delivery (microseconds): deliveries go out in created_at order,
      // and two queued in the same millisecond must not fall back on their random ids.
      createdAt: sql`greatest(${input.now.toISOString()}::timestamptz,
      (select max(d.created_at) + interval '1 microsecond' from webhook_deliveries d where d.webhook_id = ${input.webhookId}))`,
    })
    .returning();
  return row!;
}

export async function recordAttempt(
  store: StoreSession,
  id: string,
  a: { at: Date; ok: boolean; responseStatus?: number; error?: string; nextAttemptAt?: Date; give_up?: boolean },
): Promise<void> {
  await store.db
    .update(webhookDeliveries)
    .set({
      attempts: sql`${webhookDeliveries.attempts} + 1`,
      lastAttemptAt: a.at,
      responseStatus: a.responseStatus ?? null,
      error: a.ok ? null : (a.error ?? 'failed'),
      status: a.ok ? 'delivered' : a.give_up ? 'failed' : 'pending',
      deliveredAt: a.ok ? a.at : null,
      nextAttemptAt: a.ok || a.give_up ? null : (a.nextAttemptAt ?? null),
    })
    .where(eq(webhookDeliveries.id, id));
}

export async function listDeliveries(store: StoreSession, webhookId: string, limit = 20): Promise<WebhookDeliveryRow[]> {
  return store.db
    .select()
    .from(webhookDeliveries)
    .where(eq(webhookDeliveries.webhookId, webhookId))
    .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
    .limit(limit);
}

/** A webhook's oldest pending delivery: the only one that may be sent (deliveries of a webhook leave in order). */
export async function oldestPendingDelivery(store: StoreSession, webhookId: string): Promise<WebhookDeliveryRow | undefined> {
  const [row] = await store.db
    .select()
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.webhookId, webhookId), eq(webhookDeliveries.status, 'pending')))
    .orderBy(asc(webhookDeliveries.createdAt), asc(webhookDeliveries.id))
    .limit(1);
  return row;
}

/** When the next pending delivery of any enabled webhook is due (null: none pending). */
export async function nextPendingAttemptAt(store: StoreSession): Promise<Date | null> {
  const [row] = await store.query<{ at: Date | null }>(
    `select min(d.next_attempt_at) as at from webhook_deliveries d join webhooks w on w.id = d.webhook_id
      where d.status = 'pending' and w.enabled`,
  );
  return row?.at ? new Date(row.at) : null;
}

/**
 * Becomes the one sender of a webhook's deliveries for `leaseMs` (or extends it): false while another
 * process holds an unexpired lease. A sender that dies is replaced once its lease runs out.
 */
export async function claimWebhookSender(store: StoreSession, webhookId: string, senderId: string, leaseMs: number): Promise<boolean> {
  const rows = await store.query(
    `update webhooks set sender_id = $2, sender_until = now() + ($3::text || ' milliseconds')::interval
      where id = $1 and (sender_id is null or sender_id = $2 or sender_until < now()) returning id`,
    [webhookId, senderId, String(Math.ceil(leaseMs))],
  );
  return rows.length > 0;
}

export async function releaseWebhookSender(store: StoreSession, webhookId: string, senderId: string): Promise<void> {
  await store.query('update webhooks set sender_id = null, sender_until = null where id = $1 and sender_id = $2', [webhookId, senderId]);
}

/**
 * In a transaction: waits for any other process queueing this webhook's events (a transaction-scoped advisory
 * lock, which assigns no transaction id), then reads its cursor and the settled bound (SETTLED_BELOW).
 */
export async function lockWebhookQueue(tx: StoreSession, webhookId: string): Promise<{ tx: number; id: string; settledBelow: number } | undefined> {
  await tx.query(`select pg_advisory_xact_lock(hashtextextended('plum.webhook_queue:' || $1, 0))`, [webhookId]);
  const [row] = await tx.query<{ tx: number; id: string; settled_below: number }>(
    `select cursor_tx as tx, cursor_id as id, ${SETTLED_BELOW} as settled_below from webhooks where id = $1`,
    [webhookId],
  );
  return row ? { tx: Number(row.tx), id: row.id, settledBelow: Number(row.settled_below) } : undefined;
}

/** Whether events after a cursor wait for a transaction still in progress (the dispatcher looks again shortly). */
export async function eventsHeldBack(store: StoreSession, cursor: { tx: number; id: string; settledBelow: number }): Promise<boolean> {
  const rows = await store.query('select 1 from observation_events where tx >= $1 and (tx, id) > ($2::bigint, $3::text) limit 1', [
    cursor.settledBelow,
    cursor.tx,
    cursor.id,
  ]);
  return rows.length > 0;
}

/** Moves a webhook's cursor past an event (observation_events (tx, id) order). */
export async function advanceCursor(store: StoreSession, webhookId: string, cursor: { tx: number; id: string }): Promise<void> {
  await store.query('update webhooks set cursor_tx = $1, cursor_id = $2 where id = $3', [cursor.tx, cursor.id, webhookId]);
}

/** How many deliveries wait to be sent or retried (status pending). */
export async function pendingDeliveryCount(store: StoreSession): Promise<number> {
  const [r] = await store.query<{ n: number }>("select count(*)::int as n from webhook_deliveries where status = 'pending'");
  return Number(r?.n ?? 0);
}
