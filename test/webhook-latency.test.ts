import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/log.ts';
import { listenForEvents, type EventsSignal } from '../store/events-signal.ts';
import { openStore, type Store } from '../store/index.ts';
import { ingestScanResult } from '../store/ingest.ts';
import { createWebhook, deleteWebhook, listDeliveries, listWebhookStatus } from '../store/repos/webhooks.ts';
import { startWebhookDispatcher } from '../workers/webhook-dispatcher.ts';
import { runPlum } from './helpers/cli.ts';
import { startServe } from './helpers/serve.ts';
import { cliEnvOf, makeTestConfig, openTestStore, storeKinds, type TestStore } from './helpers/db.ts';
import { titledPort as port } from './helpers/scan.ts';

/*
 * Alert latency: a webhook delivery leaves as soon as the batch that made its
 * events commits, not at the next scheduler tick (the dispatchers here sleep an
 * hour between passes). Real receivers on 127.0.0.1, real databases, and on
 * PostgreSQL a `plum ingest` in another process. Deliveries stay exactly-once
 * per event, in order per host, and a restart resumes the pending ones.
 */

const HOUR = 3_600_000;
/** How long a delivery may take after its commit, on a loaded shared machine (it takes milliseconds). */
const BOUND_MS = 3000;
const LOOPBACK = { allowPrivate: true } as const;
const HTTP_XML = fileURLToPath(new URL('./fixtures/nmap/loopback-http.xml', import.meta.url));
const HTTPS_XML = fileURLToPath(new URL('./fixtures/nmap/loopback-https.xml', import.meta.url));

interface Received {
  at: number;
  delivery: string;
  events: Array<{ id: string; type: string; ip: string; port: number; at: string; hsh256: string }>;
}

async function receiver() {
  const requests: Received[] = [];
  let status = 200;
  const waiters = new Set<() => void>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      res.statusCode = status;
      res.end('ok');
      if (status !== 200) return;
      requests.push({ at: Date.now(), delivery: String(req.headers['x-plum-delivery']), events: JSON.parse(body).events });
      for (const w of waiters) w();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    requests,
    events: () => requests.flatMap((r) => r.events),
    setStatus: (s: number) => {
      status = s;
    },
    /** Resolves once `n` events have arrived (rejects after `ms`). */
    async waitForEvents(n: number, ms = 15_000) {
      const deadline = Date.now() + ms;
      while (requests.flatMap((r) => r.events).length < n) {
        if (Date.now() > deadline) throw new Error(`only ${requests.flatMap((r) => r.events).length} of ${n} events arrived`);
        await new Promise<void>((r) => {
          waiters.add(r);
          setTimeout(r, 50);
        });
      }
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** One scan of `ip` with one web port showing `title`. */
function scanOf(store: Store, ip: string, at: string, title: string, source = 'latency') {
  return ingestScanResult(store, {
    scan: {
      run: { startedAt: at, endedAt: at, finished: true },
      hosts: [
        {
          ip,
          status: 'up',
          startedAt: at,
          endedAt: at,
          timedOut: false,
          hostnames: [],
          ports: [port(ip, 8080, title)],
        },
      ],
    },
    scope: { targets: [ip], tcpPorts: '8080' },
    source,
  });
}

describe.each(storeKinds)('webhook deliveries leave when their events commit on %s', (kind) => {
  let t: TestStore;
  let events: EventsSignal;

  beforeAll(async () => {
    t = await openTestStore(kind);
    events = await listenForEvents(t.store);
  }, 60_000);
  afterAll(async () => {
    await events?.close();
    await t?.cleanup();
  });

  const dispatcher = (signal: EventsSignal = events, store: Store = t.store, extra = {}) =>
    startWebhookDispatcher({ store, log: silentLogger, events: signal, idleMs: HOUR, webhook: { ...LOOPBACK, baseDelayMs: 100, ...extra } });

  it('a delivery arrives within a short bound of the ingest commit, with an hour between dispatcher passes', async () => {
    expect(events.live).toBe(true);
    const rx = await receiver();
    const hook = await createWebhook(t.store, { name: 'fast', url: rx.url }, new Date(), LOOPBACK);
    const d = dispatcher();
    try {
      const latencies: number[] = [];
      for (let i = 0; i < 3; i++) {
        await scanOf(t.store, '127.0.1.1', `2026-11-23T1${i}:00:00Z`, `v${i}`);
        const committed = Date.now();
        await rx.waitForEvents(i + 1, BOUND_MS);
        latencies.push(rx.requests.at(-1)!.at - committed);
      }
      expect(Math.max(...latencies)).toBeLessThan(BOUND_MS);
      expect(rx.events().map((e) => e.type)).toEqual(['appeared', 'changed', 'changed']);
    } finally {
      await d.stop();
      await deleteWebhook(t.store, hook.id);
      await rx.close();
    }
  });

  it("keeps each host's events in order while a receiver fails, and resumes pending deliveries after a restart", async () => {
    const rx = await receiver();
    const hook = await createWebhook(t.store, { name: 'ordered', url: rx.url }, new Date(), LOOPBACK);
    rx.setStatus(503);
    // Long backoff: the failed delivery stays pending past this dispatcher's life.
    const first = dispatcher(events, t.store, { immediateAttempts: 1, baseDelayMs: 1500 });
    try {
      for (let i = 0; i < 3; i++) await scanOf(t.store, '127.0.1.2', `2026-11-24T1${i}:00:00Z`, `w${i}`);
      // Every event queued (commits close together may share a delivery), none delivered: the later
      // deliveries wait behind the failed one, which alone was attempted.
      const queued = async () => (await listDeliveries(t.store, hook.id)).reduce((n, d) => n + d.eventCount, 0);
      await expect.poll(queued, { timeout: BOUND_MS }).toBe(3);
      const deliveries = await listDeliveries(t.store, hook.id);
      expect(deliveries.every((d) => d.status === 'pending')).toBe(true);
      expect(deliveries.filter((d) => d.attempts > 0)).toHaveLength(1);
    } finally {
      await first.stop();
    }
    // A restart: a new dispatcher resumes what was pending, in order, once the receiver is back.
    rx.setStatus(200);
    const second = dispatcher();
    try {
      await rx.waitForEvents(3, 5000);
      const got = rx.events();
      expect(got.map((e) => e.type)).toEqual(['appeared', 'changed', 'changed']);
      expect(got.map((e) => e.at)).toEqual([...got.map((e) => e.at)].sort());
      // The last success is recorded just after the receiver answered.
      await expect
        .poll(async () => (await listWebhookStatus(t.store)).find((w) => w.name === 'ordered'), { timeout: BOUND_MS })
        .toMatchObject({ pending: 0, failed: 0 });
      expect(rx.requests.map((r) => r.delivery)).toEqual((await listDeliveries(t.store, hook.id)).map((d) => d.id).reverse());
    } finally {
      await second.stop();
      await deleteWebhook(t.store, hook.id);
      await rx.close();
    }
  });

  it('two dispatchers and concurrent ingests: every event delivered exactly once, each host in order', async () => {
    const rx = await receiver();
    const hook = await createWebhook(t.store, { name: 'once', url: rx.url }, new Date(), LOOPBACK);
    // On PostgreSQL the second dispatcher has its own connections and its own LISTEN, like another process.
    const other = kind === 'postgres' ? await openStore(t.config) : t.store;
    const otherEvents = kind === 'postgres' ? await listenForEvents(other) : events;
    const a = dispatcher();
    const b = dispatcher(otherEvents, other);
    try {
      const hosts = ['127.0.2.1', '127.0.2.2', '127.0.2.3', '127.0.2.4'];
      for (let round = 0; round < 3; round++) {
        // Concurrent transactions: on PostgreSQL one may commit after a later-started one.
        await Promise.all(hosts.map((ip, i) => scanOf(i % 2 ? other : t.store, ip, `2026-11-25T1${round}:00:00Z`, `r${round}`, `c${i}`)));
      }
      await rx.waitForEvents(hosts.length * 3);
      // Nothing more arrives afterwards.
      await new Promise((r) => setTimeout(r, 500));
      const got = rx.events();
      expect(got).toHaveLength(hosts.length * 3);
      expect(new Set(got.map((e) => e.id)).size).toBe(got.length);
      expect(new Set(rx.requests.map((r) => r.delivery)).size).toBe(rx.requests.length);
      for (const ip of hosts) {
        expect(got.filter((e) => e.ip === ip).map((e) => e.type)).toEqual(['appeared', 'changed', 'changed']);
      }
    } finally {
      await a.stop();
      await b.stop();
      if (other !== t.store) {
        await otherEvents.close();
        await other.close();
      }
      await deleteWebhook(t.store, hook.id);
      await rx.close();
    }
  });
});

// Processes sharing one PostgreSQL server (embedded PGlite commands from other processes go through the holder's socket).
describe('webhook deliveries across processes on postgres', () => {
  let t: TestStore;
  let events: EventsSignal;

  beforeAll(async () => {
    t = await openTestStore('postgres');
    events = await listenForEvents(t.store);
  }, 60_000);
  afterAll(async () => {
    await events?.close();
    await t?.cleanup();
  });

  const dispatcher = () => startWebhookDispatcher({ store: t.store, log: silentLogger, events, idleMs: HOUR, webhook: LOOPBACK });

  it('wakes on a commit made by `plum ingest` in another process', async () => {
    const rx = await receiver();
    const hook = await createWebhook(t.store, { name: 'cross', url: rx.url }, new Date(), LOOPBACK);
    const d = dispatcher();
    try {
      let exitedAt = 0;
      const ingest = runPlum(['ingest', HTTP_XML], cliEnvOf(t.config)).then((r) => {
        exitedAt = Date.now();
        return r;
      });
      await rx.waitForEvents(1, 60_000);
      const arrived = rx.requests[0]!.at;
      const r = await ingest;
      expect(r.code, r.stderr).toBe(0);
      // The delivery arrived before the other process had even exited, or right after.
      expect(arrived - exitedAt).toBeLessThan(BOUND_MS);
      expect(rx.events().every((e) => e.type === 'appeared')).toBe(true);
    } finally {
      await d.stop();
      await deleteWebhook(t.store, hook.id);
      await rx.close();
    }
  });
});

// `plum serve` as it runs: on PostgreSQL, woken by LISTEN/NOTIFY; embedded, the holder of PGlite sees the
// commits its socket clients (here `plum ingest`) make.
describe.each(storeKinds)('plum serve sends webhooks when another process ingests (%s)', (kind) => {
  let made: Awaited<ReturnType<typeof makeTestConfig>>;
  beforeAll(async () => {
    made = await makeTestConfig(kind);
  }, 60_000);
  afterAll(async () => {
    await made?.drop();
  });

  it("plum serve (scheduler off) delivers what another process's `plum ingest` committed, within the bound", async () => {
    const rx = await receiver();
    const env = { ...cliEnvOf(made.config), PLUM_WEBHOOK_ALLOW_PRIVATE: '1', PLUM_LOG_LEVEL: 'warn' };
    const add = await runPlum(['webhook', 'add', 'served', '--url', rx.url], env);
    expect(add.code, add.stderr).toBe(0);
    const serve = await startServe(env);
    try {
      let exitedAt = 0;
      const ingest = runPlum(['ingest', HTTPS_XML], env).then((r) => {
        exitedAt = Date.now();
        return r;
      });
      await rx.waitForEvents(1, 60_000);
      const r = await ingest;
      expect(r.code, r.stderr).toBe(0);
      expect(rx.requests[0]!.at - exitedAt).toBeLessThan(BOUND_MS);
      expect(rx.events().map((e) => `${e.type} ${e.ip}:${e.port}`)).toEqual(['appeared 127.176.69.2:443']);
    } finally {
      await serve.stop();
      await runPlum(['webhook', 'rm', 'served'], env);
      await rx.close();
    }
  }, 120_000);
});
