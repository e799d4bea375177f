import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { readBoundedBody } from '../core/bounded-body.ts';
import { toPlumError } from '../core/errors.ts';
import { silentLogger, type Logger } from '../core/log.ts';
import { assertPublicDestination } from '../core/report/webhook-destination.ts';
import { backoffMs, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signWebhookBody, TIMESTAMP_HEADER } from '../core/report/webhook.ts';
import type { Store, StoreSession } from '../store/index.ts';
import { findReportDefinition } from '../store/repos/reports.ts';
import {
  advanceCursor,
  claimWebhookSender,
  enabledWebhooks,
  eventsHeldBack,
  insertDelivery,
  lockWebhookQueue,
  oldestPendingDelivery,
  recordAttempt,
  releaseWebhookSender,
  type WebhookDeliveryRow,
  type WebhookRow,
} from '../store/repos/webhooks.ts';
import { eventsAfterCursor, type StoredEvent } from '../store/repos/observation-events.ts';
import { compileQueryFilter, observationRowsById, type ObservationRow } from '../store/repos/observation-rows.ts';
import type { FieldDiff } from '../core/history/diff.ts';
import { DEFAULT_FLAPPING, parseFlapping, type FlappingRule } from '../core/history/flapping.ts';
import { summarise } from './report-model.ts';

/**
 * Webhook delivery: new observation events (appeared/changed/reappeared by
 * default) matching a webhook's query, or a rendered report, POSTed as JSON with
 * an HMAC-SHA256 signature. Every attempt is recorded in webhook_deliveries;
 * failures are retried with exponential backoff, first a few times in-process,
 * then on later dispatches until `maxAttempts`, after which the delivery is
 * marked failed (visible in `plum webhook list` and the API).
 *
 * Exactly once per event, in order, with several processes dispatching:
 * - Queueing: events are read in (transaction id, event id) order, and only those
 *   of transactions that have finished, so an ingest that commits late is never
 *   left behind the cursor. The delivery row and the cursor move are one
 *   transaction, under a per-webhook advisory lock.
 * - Sending: one process at a time holds a webhook's sender lease and sends its
 *   deliveries oldest first; a delivery waiting for a retry holds back the later
 *   ones, so a receiver sees each host's events in order. Every attempt carries
 *   the delivery id (X-Plum-Delivery): a process that dies between a receiver's
 *   200 and recording it resends that delivery once, under the same id.
 */

export interface WebhookDeps {
  fetch?: typeof fetch;
  log?: Logger;
  now?: Date;
  /** Attempts made right away before leaving the delivery for a later dispatch. Default 3. */
  immediateAttempts?: number;
  /** Total attempts before giving up. Default 8. */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  timeoutMs?: number;
  /** Events per POST. Default 500. */
  batchSize?: number;
  /** PLUM_WEBHOOK_ALLOW_PRIVATE: deliveries may reach loopback, link-local and private addresses. */
  allowPrivate?: boolean;
  /** PLUM_FLAPPING: a flapping port's gone/reappeared events are not sent one by one, only the gone that starts it (default 3/7d). */
  flapping?: FlappingRule;
  /** Resolves a webhook host before each delivery (the system resolver by default). */
  resolve?: (host: string) => Promise<string[]>;
}

/** How much of a receiver's answer is read: its status is all a delivery needs. */
const RESPONSE_READ_BYTES = 4096;

const DEFAULTS = { immediateAttempts: 3, maxAttempts: 8, baseDelayMs: 1000, maxDelayMs: 3_600_000, timeoutMs: 10_000, batchSize: 500 };

async function attemptOnce(
  hook: Pick<WebhookRow, 'url' | 'secret'>,
  delivery: Pick<WebhookDeliveryRow, 'id' | 'kind' | 'payload'>,
  deps: WebhookDeps,
): Promise<{ ok: boolean; status?: number; error?: string }> {
  const body = JSON.stringify(delivery.payload);
  const ts = String(Math.floor(Date.now() / 1000));
  try {
    // Checked again at each delivery, after resolution: the name may have moved to a private address since creation.
    await assertPublicDestination(hook.url, { allowPrivate: deps.allowPrivate, ...(deps.resolve ? { resolve: deps.resolve } : {}) });
  } catch (e) {
    return { ok: false, error: toPlumError(e).message };
  }
  try {
    const res = await (deps.fetch ?? fetch)(hook.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'plum-webhook/1',
        [SIGNATURE_HEADER]: signWebhookBody(hook.secret, ts, body),
        [TIMESTAMP_HEADER]: ts,
        [DELIVERY_HEADER]: delivery.id,
        [EVENT_HEADER]: delivery.kind,
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(deps.timeoutMs ?? DEFAULTS.timeoutMs),
    });
    // Read a few KB of the answer (enough to reuse a connection after a short one), never the whole of it.
    await readBoundedBody(res, RESPONSE_READ_BYTES);
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
    return { ok: false, status: res.status, error: `HTTP ${res.status}` };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> } };
    const reason =
      err.name === 'TimeoutError'
        ? `timed out after ${deps.timeoutMs ?? DEFAULTS.timeoutMs} ms`
        : (err.cause?.code ?? err.cause?.errors?.[0]?.code ?? err.cause?.message ?? err.message);
    return { ok: false, error: reason };
  }
}

/**
 * Tries a delivery now (up to `immediate` times, with backoff between them);
 * leaves it pending with a next attempt time if it still fails.
 */
async function tryDelivery(
  store: StoreSession,
  hook: WebhookRow,
  delivery: WebhookDeliveryRow,
  deps: WebhookDeps,
  immediate: number,
): Promise<{ ok: boolean; gaveUp: boolean; error?: string }> {
  const o = options(deps);
  let attempts = delivery.attempts;
  let last: { ok: boolean; status?: number; error?: string } = { ok: false, error: 'not attempted' };
  for (let i = 0; i < immediate && attempts < o.maxAttempts; i++) {
    if (i > 0) await sleep(backoffMs(attempts, o.baseDelayMs, o.maxDelayMs));
    last = await attemptOnce(hook, delivery, deps);
    attempts++;
    const at = new Date();
    const giveUp = !last.ok && attempts >= o.maxAttempts;
    await recordAttempt(store, delivery.id, {
      at,
      ok: last.ok,
      responseStatus: last.status,
      error: last.error,
      give_up: giveUp,
      nextAttemptAt: new Date(at.getTime() + backoffMs(attempts, o.baseDelayMs, o.maxDelayMs)),
    });
    if (last.ok) return { ok: true, gaveUp: false };
    (deps.log ?? silentLogger).warn({ webhook: hook.name, delivery: delivery.id, attempt: attempts, error: last.error }, 'webhook delivery failed');
    if (giveUp) return { ok: false, gaveUp: true, error: last.error };
  }
  return { ok: false, gaveUp: attempts >= o.maxAttempts, error: last.error };
}

function options(deps: WebhookDeps): typeof DEFAULTS & WebhookDeps {
  return { ...DEFAULTS, ...Object.fromEntries(Object.entries(deps).filter(([, v]) => v !== undefined)) } as typeof DEFAULTS & WebhookDeps;
}

/** Long enough for one delivery's immediate attempts: the sender lease is renewed before each delivery. */
function senderLeaseMs(deps: WebhookDeps): number {
  const o = options(deps);
  return o.immediateAttempts * (o.timeoutMs + backoffMs(o.immediateAttempts, o.baseDelayMs, o.maxDelayMs, () => 1)) + 30_000;
}

/** Who holds a sender lease: one sending pass (two in one process, say a dispatcher and a scheduler tick, are two senders). */
const newSenderId = () => `${hostname()}:${process.pid}:${randomUUID()}`;

/** Queues one payload for a webhook and tries to deliver it right away. */
export async function deliverPayload(
  store: StoreSession,
  hook: WebhookRow,
  kind: 'events' | 'report',
  payload: Record<string, unknown>,
  eventCount: number,
  deps: WebhookDeps = {},
): Promise<{ ok: boolean; delivery: string; error?: string }> {
  const now = deps.now ?? new Date();
  // Reserved for this caller while it tries: a dispatcher in another process takes it only if this one dies.
  const delivery = await insertDelivery(store, {
    webhookId: hook.id,
    kind,
    payload,
    eventCount,
    now,
    firstAttemptAt: new Date(now.getTime() + senderLeaseMs(deps)),
  });
  const r = await tryDelivery(store, hook, delivery, deps, deps.immediateAttempts ?? DEFAULTS.immediateAttempts);
  return { ok: r.ok, delivery: delivery.id, ...(r.error !== undefined && !r.ok ? { error: r.error } : {}) };
}

/** What a webhook receives for one event. */
export function eventPayload(e: StoredEvent, obs: ObservationRow | undefined): Record<string, unknown> {
  return {
    id: e.id,
    type: e.type,
    ip: e.ip,
    protocol: e.protocol,
    port: Number(e.port),
    at: new Date(e.at).toISOString(),
    hsh256: e.hsh256,
    previous_hsh256: e.previous_hsh256,
    run_id: e.run_id,
    summary: obs ? summarise(obs.fields) : '',
    tags: obs?.tags ?? [],
    score: obs?.score ?? 0,
    // What ingest stored as the change (core/history/diff.ts: volatile values never listed), under the documented
    // name; null for a change stored before diffs were kept. Not recomputed from the two rows: their raw values
    // differ wherever they are volatile.
    ...(e.type === 'changed' ? { field_changes: e.changes ?? null } : {}),
    // True only on the one notice of a port starting to flap: its later goings and comings back are not sent.
    flapping: e.flapping,
    observation: obs ? { id: obs.id, first_seen: obs.first_seen.toISOString(), last_seen: obs.last_seen.toISOString(), fields: obs.fields } : null,
  };
}

export interface DispatchSummary {
  webhooks: number;
  /** Events queued, and the deliveries that carry them. */
  events: number;
  deliveries: number;
  /** Deliveries sent for the first time that failed (left pending for a retry, or given up). */
  failed: number;
  /** Attempts made on deliveries that had failed before. */
  retried: number;
  /** Webhooks with events written by transactions still in progress: a dispatch shortly after queues them. */
  waiting: number;
}

/** Queues the events committed since a webhook's cursor that it wants, a batch per transaction. */
async function queueEvents(
  store: Store,
  hook: WebhookRow,
  query: string,
  match: (r: ObservationRow) => boolean,
  deps: WebhookDeps,
  now: Date,
): Promise<{ events: number; deliveries: number; waiting: boolean }> {
  const batchSize = deps.batchSize ?? DEFAULTS.batchSize;
  const out = { events: 0, deliveries: 0, waiting: false };
  for (;;) {
    const more = await store.transaction(async (tx) => {
      const cursor = await lockWebhookQueue(tx, hook.id);
      if (!cursor) return false;
      const events = await eventsAfterCursor(tx, cursor, deps.flapping ?? parseFlapping(DEFAULT_FLAPPING), batchSize);
      if (events.length === 0) {
        out.waiting = await eventsHeldBack(tx, cursor);
        return false;
      }
      const obs = await observationRowsById(
        tx,
        events.flatMap((e) => [e.observation_id, ...(e.previous_observation_id ? [e.previous_observation_id] : [])]),
      );
      const selected = events.filter((e) => {
        // A flapping port's gone/reappeared are not sent one by one; the gone that starts the flapping is, as a notice.
        if (!hook.eventTypes.includes(e.type) || (e.flapping && !e.flapping_starts)) return false;
        const o = obs.get(e.observation_id);
        const p = e.previous_observation_id ? obs.get(e.previous_observation_id) : undefined;
        return (o !== undefined && match(o)) || (p !== undefined && match(p));
      });
      if (selected.length) {
        const payload = {
          type: 'events',
          webhook: hook.name,
          query,
          events: selected.map((e) => eventPayload(e, obs.get(e.observation_id))),
        };
        await insertDelivery(tx, { webhookId: hook.id, kind: 'events', payload, eventCount: selected.length, now });
        out.deliveries++;
        out.events += selected.length;
      }
      const last = events[events.length - 1]!;
      await advanceCursor(tx, hook.id, { tx: Number(last.tx), id: last.id });
      return events.length === batchSize;
    });
    if (!more) return out;
  }
}

/**
 * Sends a webhook's due deliveries, oldest first, while this process holds its
 * sender lease; stops at the first one left pending (it holds back the later ones).
 */
async function sendDue(store: StoreSession, hook: WebhookRow, deps: WebhookDeps, now: Date): Promise<{ failed: number; retried: number }> {
  const out = { failed: 0, retried: 0 };
  const leaseMs = senderLeaseMs(deps);
  const sender = newSenderId();
  if (!(await claimWebhookSender(store, hook.id, sender, leaseMs))) return out;
  try {
    for (;;) {
      const head = await oldestPendingDelivery(store, hook.id);
      if (!head?.nextAttemptAt || head.nextAttemptAt.getTime() > now.getTime()) break;
      const first = head.attempts === 0;
      const r = await tryDelivery(store, hook, head, deps, first ? (deps.immediateAttempts ?? DEFAULTS.immediateAttempts) : 1);
      if (first && !r.ok) out.failed++;
      if (!first) out.retried++;
      if (!r.ok && !r.gaveUp) break;
      if (!(await claimWebhookSender(store, hook.id, sender, leaseMs))) break;
    }
  } finally {
    await releaseWebhookSender(store, hook.id, sender);
  }
  return out;
}

/**
 * Queues every event committed since each webhook's cursor that matches its
 * query (or its report's query) and event types, in batches; then sends the
 * deliveries that are due, per webhook in order. Run by the webhook dispatcher
 * as soon as events commit (workers/webhook-dispatcher.ts), by the scheduler
 * tick, and by `plum webhook dispatch`; any number of them may run at once.
 */
export async function dispatchWebhookEvents(store: Store, deps: WebhookDeps = {}): Promise<DispatchSummary> {
  const now = deps.now ?? new Date();
  const summary: DispatchSummary = { webhooks: 0, events: 0, deliveries: 0, failed: 0, retried: 0, waiting: 0 };
  const hooks = await enabledWebhooks(store);
  summary.webhooks = hooks.length;
  for (const hook of hooks) {
    let query = hook.query;
    if (hook.reportId) query = (await findReportDefinition(store, hook.reportId))?.query ?? '';
    let match: (r: ObservationRow) => boolean;
    try {
      match = compileQueryFilter(query, now);
    } catch (e) {
      (deps.log ?? silentLogger).error({ webhook: hook.name, err: toPlumError(e).message }, 'webhook query is invalid; skipped');
      continue;
    }
    const q = await queueEvents(store, hook, query, match, deps, now);
    summary.events += q.events;
    summary.deliveries += q.deliveries;
    if (q.waiting) summary.waiting++;
  }
  for (const hook of hooks) {
    const r = await sendDue(store, hook, deps, now);
    summary.failed += r.failed;
    summary.retried += r.retried;
  }
  return summary;
}

/** Sends the pending deliveries that are due (a retry each for those that failed before); returns the retries made. */
export async function retryDueDeliveries(store: StoreSession, deps: WebhookDeps = {}): Promise<number> {
  const now = deps.now ?? new Date();
  let n = 0;
  for (const hook of await enabledWebhooks(store)) n += (await sendDue(store, hook, deps, now)).retried;
  return n;
}
