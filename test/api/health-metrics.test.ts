import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../api/server.ts';
import { parseNmapStream } from '../../core/nmap/parse.ts';
import { openStore } from '../../store/index.ts';
import { ingestScanResult, scanFromStream } from '../../store/ingest.ts';
import { makeTestConfig, openTestStore, storeKinds } from '../helpers/db.ts';
import { freePort } from '../helpers/net.ts';
import { startTemporalDevServer, type TemporalDevServer } from '../helpers/temporal-server.ts';
import { expectError, startTestApi, type TestApi } from './helpers.ts';

/*
 * /healthz, /readyz and /metrics (api/routes/meta/): happy, bad input and security, on both stores;
 * readiness against a PostgreSQL server that goes away, a real Temporal dev server, and an HTTP
 * endpoint standing in for Meilisearch (not installed here); metric values after a real ingest.
 */

const CIRCL = path.join(import.meta.dirname, '..', 'fixtures', 'nmap', 'circl.xml');

/** The value of one sample of the exposition text, e.g. sample(text, 'plum_runs{status="succeeded"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe.each(storeKinds)('health and metrics (%s)', (kind) => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi(kind);
  }, 120_000);
  afterAll(async () => api?.close());

  it('happy: /healthz and /readyz answer without a key; /metrics counts a real ingest and a search', async () => {
    const live = await api.call('/healthz');
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'ok' });
    const ready = await api.call('/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok' } });

    const scrape = async () => {
      const res = await api.call('/metrics', { auth: api.keys.viewer });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return res.text();
    };
    const before = await scrape();
    for (const name of [
      'plum_runs',
      'plum_jobs',
      'plum_job_queue_depth',
      'plum_webhook_backlog',
      'plum_ingested_hosts_total',
      'plum_ingested_ports_total',
      'plum_observation_changes_total',
      'plum_search_duration_seconds',
      'plum_http_request_duration_seconds',
      'plum_process_resident_memory_bytes',
    ]) {
      expect(before, name).toContain(`# TYPE ${name} `);
    }
    expect(sample(before, 'plum_ingested_ports_total')).toBe(0);
    expect(sample(before, 'plum_runs{status="succeeded"}')).toBeUndefined();
    expect(sample(before, 'plum_job_queue_depth')).toBe(0);

    const xml = fs.readFileSync(CIRCL);
    const s = await ingestScanResult(api.store, { source: 'circl.xml', rawXml: xml, scan: scanFromStream(parseNmapStream([xml], { source: 'circl.xml' })) });
    expect(s.errors).toEqual([]);
    const search = await api.call('/v1/search?q=port:80', { auth: api.keys.viewer });
    expect(search.status).toBe(200);

    const after = await scrape();
    const [run] = await api.store.query<{ status: string; counters: { ports: number; hosts: number; appeared: number } }>('select status, counters from runs');
    expect(run!.counters.ports).toBeGreaterThan(0);
    expect(sample(after, 'plum_ingested_ports_total')).toBe(run!.counters.ports);
    expect(sample(after, 'plum_ingested_hosts_total')).toBe(run!.counters.hosts);
    expect(sample(after, 'plum_observation_changes_total{type="appeared"}')).toBe(run!.counters.appeared);
    expect(sample(after, `plum_runs{status="${run!.status}"}`)).toBe(1);
    expect(sample(after, 'plum_search_duration_seconds_count{kind="structured",status="200"}')).toBe(1);
    expect(sample(after, 'plum_http_request_duration_seconds_count{method="GET",route="/v1/search",status="200"}')).toBe(1);
    // Readiness probes are not search, and route labels are templates, never raw paths.
    expect(after).not.toMatch(/route="\/v1\/search\?/);
  }, 120_000);

  it('bad input: other methods and unknown paths are plain 404s; a malformed Authorization header is 401', async () => {
    await expectError(await api.call('/healthz', { method: 'POST' }), 404, 'not_found');
    await expectError(await api.call('/readyz/database'), 404, 'not_found');
    await expectError(await api.call('/metrics', { headers: { authorization: 'Basic dTpw' } }), 401, 'unauthorized', /Bearer/);
  });

  it('security: /metrics needs an API key (not an agent token, not a revoked key); health endpoints say nothing more than states', async () => {
    await expectError(await api.call('/metrics'), 401, 'unauthorized', 'missing API key');
    await expectError(await api.call('/metrics', { auth: api.keys.revoked }), 401, 'unauthorized');
    await expectError(await api.call('/metrics', { auth: 'plum_k_not_a_key' }), 401, 'unauthorized');
    await expectError(await api.call('/metrics', { auth: api.agents.a.token }), 403, 'forbidden');
    const ready = await (await api.call('/readyz')).text();
    expect(ready).not.toMatch(/postgres|127\.0\.0\.1|version|plum_t_/i);
  });
});

/** A TCP relay to the test PostgreSQL server that can be cut: the server becoming unreachable. */
async function cuttableRelay(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

describe('readiness of each dependency', () => {
  let temporal: TemporalDevServer | undefined;
  afterAll(async () => temporal?.stop());

  it('503 naming the database when PostgreSQL becomes unreachable', async () => {
    const { config, drop } = await makeTestConfig('postgres');
    const direct = new URL(config.PLUM_DATABASE_URL!);
    const relay = await cuttableRelay({ host: direct.hostname, port: Number(direct.port || 5432) });
    const viaRelay = new URL(direct);
    viaRelay.port = String(relay.port);
    const store = await openStore({ ...config, PLUM_DATABASE_URL: viaRelay.toString() });
    const server = await startServer({ store, config }, { host: '127.0.0.1', port: 0 });
    try {
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      await relay.cut();
      const t0 = Date.now();
      const res = await fetch(`${server.url}/readyz`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { status: string; checks: { database: string } };
      expect(body.status).toBe('unavailable');
      expect(['failed', 'timeout']).toContain(body.checks.database);
      expect(Date.now() - t0).toBeLessThan(5000);
      // Liveness does not depend on the database.
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      await server.close();
      await store.close().catch(() => {});
      await drop();
    }
  }, 120_000);

  it('Temporal and Meilisearch when configured: ok when they answer, 503 naming the one that does not', async () => {
    temporal = await startTemporalDevServer({ headless: true });
    let meiliStatus = 200;
    const meili = http.createServer((req, res) => {
      res.statusCode = req.url === '/health' ? meiliStatus : 404;
      res.end(JSON.stringify({ status: 'available' }));
    });
    await new Promise<void>((r) => meili.listen(0, '127.0.0.1', () => r()));
    const meiliUrl = `http://127.0.0.1:${(meili.address() as net.AddressInfo).port}`;
    const t = await openTestStore('pglite', { PLUM_TEMPORAL_ADDRESS: temporal.address, PLUM_MEILI_URL: meiliUrl });
    const server = await startServer({ store: t.store, config: t.config }, { host: '127.0.0.1', port: 0 });
    const deadTemporal = `127.0.0.1:${await freePort()}`;
    const t2 = await openTestStore('pglite', { PLUM_TEMPORAL_ADDRESS: deadTemporal });
    const server2 = await startServer({ store: t2.store, config: t2.config }, { host: '127.0.0.1', port: 0 });
    try {
      let res = await fetch(`${server.url}/readyz`);
      expect(await res.json()).toEqual({ status: 'ready', checks: { database: 'ok', temporal: 'ok', meilisearch: 'ok' } });
      meiliStatus = 503;
      res = await fetch(`${server.url}/readyz`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: 'unavailable', checks: { database: 'ok', temporal: 'ok', meilisearch: 'failed' } });
      res = await fetch(`${server2.url}/readyz`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { checks: Record<string, string> };
      expect(body.checks.database).toBe('ok');
      expect(['failed', 'timeout']).toContain(body.checks.temporal);
    } finally {
      await server.close();
      await server2.close();
      await new Promise<void>((r) => meili.close(() => r()));
      await t.cleanup();
      await t2.cleanup();
    }
  }, 180_000);
});
