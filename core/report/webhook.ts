import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signing. The receiver recomputes HMAC-SHA256(secret, `${timestamp}.${body}`)
 * and compares it with the `X-Plum-Signature: sha256=<hex>` header; the timestamp
 * (`X-Plum-Timestamp`, Unix seconds) is signed too so a captured request cannot
 * be replayed later with a fresh timestamp.
 */
export const SIGNATURE_HEADER = 'x-plum-signature';
export const TIMESTAMP_HEADER = 'x-plum-timestamp';
export const DELIVERY_HEADER = 'x-plum-delivery';
export const EVENT_HEADER = 'x-plum-event';

export function signWebhookBody(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex')}`;
}

/** Constant-time check; `toleranceSeconds` bounds the age of the timestamp (0 = no check). */
export function verifyWebhookSignature(
  secret: string,
  headers: { signature?: string | null; timestamp?: string | null },
  body: string,
  opts: { now?: Date; toleranceSeconds?: number } = {},
): boolean {
  const { signature, timestamp } = headers;
  if (!signature || !timestamp || !/^\d+$/.test(timestamp)) return false;
  const tolerance = opts.toleranceSeconds ?? 300;
  if (tolerance > 0) {
    const age = Math.abs((opts.now ?? new Date()).getTime() / 1000 - Number(timestamp));
    if (age > tolerance) return false;
  }
  const expected = Buffer.from(signWebhookBody(secret, timestamp, body));
  const got = Buffer.from(signature);
  return expected.length === got.length && timingSafeEqual(expected, got);
}

/** Delay before retry number `attempt` (1-based): base·2^(attempt-1), capped, with ±20 % jitter. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw * (0.8 + 0.4 * random()));
}
