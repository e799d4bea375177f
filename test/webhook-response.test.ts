import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverPayload } from '../activities/webhooks.ts';
import { createWebhook } from '../store/repos/webhooks.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';

/** A receiver that answers 200 with a body of `size` bytes, written as the client reads it; counts what it sent. */
async function hugeAnswer(size: number) {
  const state = { sent: 0, closed: false };
  const chunk = Buffer.alloc(1 << 20, 'x');
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(size) });
      const pump = () => {
        while (state.sent < size && !res.destroyed) {
          state.sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        if (state.sent >= size) res.end();
      };
      res.on('close', () => (state.closed = true));
      pump();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    state,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe.each(storeKinds)('webhook delivery reads little of the answer (%s)', (kind) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(kind);
  });
  afterAll(() => t?.cleanup());

  it('a receiver answering 1.5 GB: delivered, and only the first bytes read (memory stays flat)', async () => {
    const rx = await hugeAnswer(1536 * 1024 * 1024);
    try {
      // The receiver listens on loopback: a destination only an admin may allow (PLUM_WEBHOOK_ALLOW_PRIVATE).
      const hook = await createWebhook(t.store, { name: 'huge-answer', url: rx.url }, new Date(), { allowPrivate: true });
      const rssBefore = process.memoryUsage().rss;
      let peak = rssBefore;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      const r = await deliverPayload(t.store, hook, 'events', { type: 'events', events: [] }, 0, { timeoutMs: 60_000, allowPrivate: true });
      clearInterval(sampler);
      expect(r).toMatchObject({ ok: true });
      for (let i = 0; i < 100 && !rx.state.closed; i++) await new Promise((res) => setTimeout(res, 20));
      expect(rx.state.closed).toBe(true);
      // The socket buffers a few MB before the receiver notices the close.
      expect(rx.state.sent).toBeLessThan(64 * 1024 * 1024);
      expect(peak - rssBefore).toBeLessThan(200 * 1024 * 1024);
    } finally {
      await rx.close();
    }
  }, 120_000);
});
