import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../core/log.ts';
import { verifyWebhookSignature } from '../core/report/webhook.ts';
import { ingestScanResult } from '../store/ingest.ts';
import { listProfiles, setProfileEnabled } from '../store/repos/profiles.ts';
import { createReportDefinition, getReportDefinition } from '../store/repos/reports.ts';
import { createWebhook, listWebhookStatus } from '../store/repos/webhooks.ts';
import { createEmbeddedScheduler } from '../workers/scheduler.ts';
import type { RunRequest } from '../workflows/logic/types.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';
import { titledPort as port } from './helpers/scan.ts';

/*
 * The embedded scheduler's tick (what `plum scheduler` and `plum serve` run)
 * also runs due report definitions and dispatches webhook events, over a real
 * database, a real directory and a real HTTP receiver on 127.0.0.1. No scans:
 * every profile is disabled and startRun refuses to be called.
 */

const T0 = new Date('2026-11-23T00:00:00Z');
const H = 3_600_000;
const at = (hours: number) => new Date(T0.getTime() + hours * H);

async function receiver() {
  const requests: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      requests.push({ headers: req.headers, body });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return { url, requests, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe.each(storeKinds)('scheduler tick runs reports and webhooks on %s', (kind) => {
  let t: TestStore;
  let clock: Date;
  let dir: string;
  const started: RunRequest[] = [];

  beforeAll(async () => {
    t = await openTestStore(kind);
    for (const p of await listProfiles(t.store)) await setProfileEnabled(t.store, p.name, false);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'plum-sched-rep-'));
  }, 60_000);
  afterAll(async () => {
    await t?.cleanup();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  const scheduler = (extra: Parameters<typeof createEmbeddedScheduler>[0]['reports'] = {}) =>
    createEmbeddedScheduler({
      store: t.store,
      log: silentLogger,
      now: () => clock,
      startRun: (request) => {
        started.push(request);
        throw new Error('no profile should run in this test');
      },
      reports: { config: t.config, ...extra },
    });

  it('delivers a due report definition to a dir: destination once per cadence', async () => {
    await createReportDefinition(t.store, { name: 'daily', every: '1d', destinations: [`dir:${dir}`] }, T0);
    // Not due yet.
    clock = at(23);
    await scheduler().tick();
    expect(await fs.readdir(dir)).toEqual([]);

    clock = at(24.5);
    const s = scheduler();
    expect(await s.tick()).toEqual([]);
    expect(s.lastHousekeeping()).toMatchObject({ reports: [{ report: 'daily', status: 'ok' }], errors: [] });
    const files = await fs.readdir(dir);
    expect(files).toHaveLength(1);
    expect(await fs.readFile(path.join(dir, files[0]!), 'utf8')).toContain('daily');
    expect(await getReportDefinition(t.store, 'daily')).toMatchObject({ lastStatus: 'ok', nextRunAt: at(48) });

    // The next ticks (a fresh process too) do not deliver it again before its cadence has passed.
    clock = at(25);
    await s.tick();
    clock = at(47.9);
    await scheduler().tick();
    expect(await fs.readdir(dir)).toHaveLength(1);

    clock = at(48.1);
    await scheduler().tick();
    expect(await fs.readdir(dir)).toHaveLength(2);
    expect(started).toEqual([]);
  });

  it('two schedulers on the same database deliver a due report once', async () => {
    await createReportDefinition(t.store, { name: 'twice', every: '1d', destinations: [`dir:${dir}/twice`] }, T0);
    await fs.mkdir(path.join(dir, 'twice'));
    clock = at(24.5);
    // plum serve and plum scheduler polling at the same moment: both see the definition due.
    await Promise.all([scheduler().tick(), scheduler().tick()]);
    expect(await fs.readdir(path.join(dir, 'twice'))).toHaveLength(1);
    expect(await getReportDefinition(t.store, 'twice')).toMatchObject({ lastStatus: 'ok', nextRunAt: at(48) });
  });

  it('sends new events to a webhook on the next tick, once', async () => {
    const rx = await receiver();
    try {
      // The receiver listens on loopback: a destination only an admin may allow (PLUM_WEBHOOK_ALLOW_PRIVATE).
      const hook = await createWebhook(t.store, { name: 'all-http', url: rx.url, query: 'port:8080' }, new Date(), { allowPrivate: true });
      await ingestScanResult(t.store, {
        scan: {
          run: { startedAt: '2026-11-23T10:00:00Z', endedAt: '2026-11-23T10:00:00Z', finished: true },
          hosts: [
            {
              ip: '127.0.0.9',
              status: 'up',
              startedAt: '2026-11-23T10:00:00Z',
              endedAt: '2026-11-23T10:00:00Z',
              timedOut: false,
              hostnames: [],
              ports: [port('127.0.0.9', 8080, 'Jenkins'), port('127.0.0.9', 80, 'Welcome')],
            },
          ],
        },
        scope: { targets: ['127.0.0.9'], tcpPorts: '80,8080' },
        source: 'test-sched',
      });
      clock = new Date();
      const s = scheduler({ webhook: { baseDelayMs: 10, allowPrivate: true } });
      await s.tick();
      expect(s.lastHousekeeping()).toMatchObject({ webhookDeliveries: 1, errors: [] });
      expect(rx.requests).toHaveLength(1);
      const req = rx.requests[0]!;
      expect(
        verifyWebhookSignature(
          hook.secret,
          { signature: req.headers['x-plum-signature'] as string, timestamp: req.headers['x-plum-timestamp'] as string },
          req.body,
        ),
      ).toBe(true);
      const body = JSON.parse(req.body);
      expect(body.type).toBe('events');
      expect(body.events.map((e: { type: string; ip: string; port: number }) => `${e.type} ${e.ip}:${e.port}`)).toEqual(['appeared 127.0.0.9:8080']);
      // Nothing new: the next tick sends nothing.
      await s.tick();
      expect(rx.requests).toHaveLength(1);
      expect((await listWebhookStatus(t.store)).find((w) => w.name === 'all-http')).toMatchObject({ delivered: 1, pending: 0, failed: 0 });
    } finally {
      await rx.close();
    }
  });

  it('a failing report or webhook step is logged and does not stop the tick', async () => {
    const errors: string[] = [];
    const log = { ...silentLogger, error: (_o: unknown, msg?: string) => void errors.push(String(msg)) };
    // A negative batch size makes the events query fail in the database.
    const s = createEmbeddedScheduler({
      store: t.store,
      log: log as typeof silentLogger,
      now: () => clock,
      startRun: () => Promise.reject(new Error('unused')),
      reports: { config: t.config, webhook: { batchSize: -1 } },
    });
    clock = new Date();
    await expect(s.tick()).resolves.toEqual([]);
    expect(s.lastHousekeeping()!.errors).toEqual([expect.stringMatching(/^webhook dispatch: /)]);
    expect(errors).toContain('scheduler: webhook dispatch failed');
  });
});
