import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptySearchFields, type SearchFields } from '../core/fields.ts';
import { renderReportMarkdown } from '../core/report/markdown.ts';
import { validateMispEvent, type MispFacts } from './helpers/misp-validate.ts';
import { resolvePeriod } from '../core/report/period.ts';
import { verifyWebhookSignature } from '../core/report/webhook.ts';
import { DEFAULT_SCORE_FILE, loadScoreConfig } from '../core/score.ts';
import { buildReportModel, createReportActivities, exportObservations, runDueReports, runReportDefinition } from '../activities/report.ts';
import { dispatchWebhookEvents, retryDueDeliveries } from '../activities/webhooks.ts';
import { ingestScanResult, type IngestHost, type IngestPort } from '../store/ingest.ts';
import { createReportDefinition, deleteReportDefinition, listReportDefinitions } from '../store/repos/reports.ts';
import { createWebhook, listDeliveries, listWebhookStatus } from '../store/repos/webhooks.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';

/** The test receivers listen on loopback, a destination only an admin may allow (PLUM_WEBHOOK_ALLOW_PRIVATE). */
const LOOPBACK_RECEIVER = { allowPrivate: true } as const;

const FIX = fileURLToPath(new URL('./fixtures/misp/', import.meta.url));
const readJson = async (p: string) => JSON.parse(await fs.readFile(path.join(FIX, p), 'utf8'));

function port(p: number, f: Partial<SearchFields>): IngestPort {
  const fields: SearchFields = { ...emptySearchFields(), port: [String(p)], protocol: ['tcp'], state: ['open'], ...f };
  return { protocol: 'tcp', port: p, state: 'open', fpVersion: 1, fields, doc: { f }, hsh256: createHash('sha256').update(JSON.stringify(f)).digest('hex') };
}

function host(ip: string, at: string, ports: IngestPort[], names: { name: string; type: string }[] = []): IngestHost {
  return {
    ip,
    status: 'up',
    startedAt: at,
    endedAt: at,
    timedOut: false,
    hostnames: names,
    ports: ports.map((p) => ({
      ...p,
      fields: {
        ...p.fields,
        ip: [ip],
        fqdn_requested: names.filter((n) => n.type === 'user').map((n) => n.name),
        ptr: names.filter((n) => n.type === 'PTR').map((n) => n.name),
      },
    })),
  };
}

const ssh = port(22, { service_name: ['ssh'], banner: ['SSH-2.0-OpenSSH_9.2p1 Debian-2'] });
const webOld = port(443, {
  service_name: ['https'],
  http_title: ['Old portal'],
  http_server: ['nginx'],
  x509_subject_cn: ['portal.example.test'],
  x509_san: ['portal.example.test', 'vpn.example.test'],
  x509_sha256: ['a'.repeat(64)],
});
const webNew = port(443, {
  service_name: ['https'],
  http_title: ['Fortinet SSL VPN'],
  http_server: ['xxxxxxxx-xxxxx'],
  x509_subject_cn: ['portal.example.test'],
  x509_san: ['portal.example.test', 'vpn.example.test'],
  x509_sha256: ['b'.repeat(64)],
});
const http80 = port(80, { service_name: ['http'], http_title: ['Index of /'] });
const alt = port(8080, { service_name: ['http-proxy'], http_title: ['Jenkins'] });

const SCOPE = { targets: ['127.0.0.1', '127.0.0.2', '127.0.0.3'], tcpPorts: '22,80,443,8080' };
const tagPort = (p: IngestPort) => {
  const tags: string[] = [];
  if (p.fields.http_title.some((t) => t.startsWith('Index of'))) tags.push('vuln:opendir');
  if (p.fields.http_title.some((t) => t.includes('Fortinet'))) tags.push('vendor:fortinet', 'type:vpn');
  if (p.fields.http_title.includes('Jenkins')) tags.push('product:jenkins', 'type:admin');
  return { tags, rules: tags.length ? ['test-rule'] : [] };
};

async function scan(store: TestStore['store'], at: string, hosts: IngestHost[], job: string) {
  return ingestScanResult(store, { scan: { run: { startedAt: at, endedAt: at, finished: true }, hosts }, scope: SCOPE, source: `test-${job}` }, { tagPort });
}

/** A real HTTP receiver on 127.0.0.1 that records requests and answers with the status we choose. */
async function receiver() {
  const requests: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
  let status = 200;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      requests.push({ headers: req.headers, body });
      res.statusCode = status;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return { url, requests, setStatus: (s: number) => (status = s), close: () => new Promise<void>((r) => server.close(() => r())) };
}

const NOW = new Date('2026-03-08T00:00:00Z');
const PERIOD = resolvePeriod({ since: '7d' }, NOW);

describe.each(storeKinds)('reports and exports on %s', (kind) => {
  let t: TestStore;
  let facts: MispFacts;

  beforeAll(async () => {
    t = await openTestStore(kind);
    facts = {
      core: await readJson('core-format.json'),
      types: await readJson('describe-types.json'),
      templates: await Promise.all((await fs.readdir(path.join(FIX, 'objects'))).map((f) => readJson(`objects/${f}`))),
    };
    // Previous period: first scan. Current period: a change, a disappearance, new ports, a comeback.
    await scan(
      t.store,
      '2026-02-25T10:00:00Z',
      [
        host(
          '127.0.0.1',
          '2026-02-25T10:00:00Z',
          [ssh, webOld, http80],
          [
            { name: 'portal.example.test', type: 'user' },
            { name: 'h1.example.test', type: 'PTR' },
          ],
        ),
        host('127.0.0.2', '2026-02-25T10:00:00Z', [http80]),
      ],
      'a',
    );
    await scan(
      t.store,
      '2026-03-03T10:00:00Z',
      [
        host(
          '127.0.0.1',
          '2026-03-03T10:00:00Z',
          [ssh, webNew],
          [
            { name: 'portal.example.test', type: 'user' },
            { name: 'h1.example.test', type: 'PTR' },
          ],
        ),
        host('127.0.0.2', '2026-03-03T10:00:00Z', [http80, alt]),
        host('127.0.0.3', '2026-03-03T10:00:00Z', [ssh]),
      ],
      'b',
    );
    await scan(
      t.store,
      '2026-03-05T10:00:00Z',
      [
        host(
          '127.0.0.1',
          '2026-03-05T10:00:00Z',
          [ssh, webNew, http80],
          [
            { name: 'portal.example.test', type: 'user' },
            { name: 'h1.example.test', type: 'PTR' },
          ],
        ),
      ],
      'c',
    );
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('builds every section: totals, ports, changes vs the previous period, hosts by score, tags', async () => {
    const scoreConfig = await loadScoreConfig(DEFAULT_SCORE_FILE);
    const model = await buildReportModel(t.store, { period: PERIOD, now: NOW, scoreConfig });
    // The replaced 443 fingerprint was last seen before the period: 6 observations, not 7.
    expect(model.totals).toEqual({ hosts: 3, ports: 6, observations: 6 });
    expect(model.previousTotals).toEqual({ hosts: 2, ports: 4, observations: 4 });
    expect(model.portCounts.map((p) => `${p.port}:${p.hosts}:${p.previousHosts}`)).toEqual(['22:2:1', '80:2:2', '443:1:1', '8080:1:0']);
    const fmt = (l: { ip: string; port: number }[]) => l.map((c) => `${c.ip}:${c.port}`).sort();
    expect(fmt(model.changes.appeared)).toEqual(['127.0.0.2:8080', '127.0.0.3:22']);
    expect(fmt(model.changes.changed)).toEqual(['127.0.0.1:443']);
    expect(fmt(model.changes.gone)).toEqual(['127.0.0.1:80']);
    expect(fmt(model.changes.reappeared)).toEqual(['127.0.0.1:80']);
    expect(model.previousChangeCounts.appeared).toBe(4);
    const changed = model.changes.changed[0]!;
    expect(changed.fields).toContainEqual({ label: 'title', old: ['Old portal'], new: ['Fortinet SSL VPN'] });
    expect(changed.fields).toContainEqual({ label: 'certificate SHA-256', old: ['a'.repeat(64)], new: ['b'.repeat(64)] });
    expect(changed.fields).toContainEqual({ label: 'tags', old: [], new: ['type:vpn', 'vendor:fortinet'] });
    // Hosts ordered by score, with names and explanation.
    const scores = model.hosts.map((h) => h.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    const h1 = model.hosts.find((h) => h.ip === '127.0.0.1')!;
    expect(h1.names.requested).toEqual(['portal.example.test']);
    expect(h1.names.ptr).toEqual(['h1.example.test']);
    expect(h1.names.certificate).toEqual(['portal.example.test', 'vpn.example.test']);
    expect(h1.services.map((s) => s.port)).toEqual([22, 80, 443]);
    expect(h1.services.every((s) => !s.closed)).toBe(true);
    expect(h1.tags).toEqual(['type:vpn', 'vendor:fortinet', 'vuln:opendir']);
    expect(h1.scoreExplanation).toMatch(/\+\d+/);
    expect(model.tagCounts.find((x) => x.tag === 'vuln:opendir')).toEqual({ tag: 'vuln:opendir', hosts: 2, ports: 2 });
    expect(model.coverage.runs).toBeGreaterThanOrEqual(2);

    const md = renderReportMarkdown(model);
    expect(md).toContain('  - title: Old portal → Fortinet SSL VPN');
    expect(md).toContain('| 8080/tcp | http-proxy | 1 | +1 |');
    expect(md).toMatch(/### 1\. 127\.0\.0\.\d — score \d+/);
  });

  it('filters everything with the query language', async () => {
    const model = await buildReportModel(t.store, { period: PERIOD, now: NOW, query: 'port:443' });
    expect(model.totals.hosts).toBe(1);
    expect(model.portCounts.map((p) => p.port)).toEqual([443]);
    expect(model.changes.appeared).toEqual([]);
    expect(model.changes.changed).toHaveLength(1);
    expect(model.changes.gone).toEqual([]);
    const none = await buildReportModel(t.store, { period: PERIOD, now: NOW, query: 'port:9999' });
    const md = renderReportMarkdown(none);
    expect(md).toContain('No host matched the query during the period.');
    await expect(buildReportModel(t.store, { period: PERIOD, now: NOW, query: 'port:(' })).rejects.toMatchObject({ code: 'syntax' });
  });

  it('exports json, ndjson, csv and MISP, streamed', async () => {
    const collect = async (format: string, extra: Record<string, string> = {}) => {
      const { chunks } = exportObservations(t.store, { format, now: NOW, ...extra });
      let s = '';
      for await (const c of chunks) s += c;
      return s;
    };
    const nd = (await collect('ndjson'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // Current exposure: 127.0.0.1 22/80/443, .2 80/8080, .3 22.
    expect(nd.map((r) => `${r.ip}:${r.port}`).sort()).toEqual([
      '127.0.0.1:22',
      '127.0.0.1:443',
      '127.0.0.1:80',
      '127.0.0.2:80',
      '127.0.0.2:8080',
      '127.0.0.3:22',
    ]);
    const json = JSON.parse(await collect('json', { query: 'tag:vuln:opendir' }));
    expect(json.count).toBe(2);
    expect(json.observations.every((o: { tags: string[] }) => o.tags.includes('vuln:opendir'))).toBe(true);
    const csv = (await collect('csv', { query: 'port:443' })).split('\r\n');
    expect(csv[0]).toMatch(/^ip,protocol,port,state,first_seen/);
    expect(csv[1]).toContain('127.0.0.1,tcp,443,open');
    expect(csv[1]).toContain('Fortinet SSL VPN');
    // Period export includes the replaced fingerprint too.
    const hist = (await collect('ndjson', { since: '30d', query: 'port:443' })).trim().split('\n');
    expect(hist).toHaveLength(2);
    const misp = JSON.parse(await collect('misp'));
    expect(validateMispEvent(misp, facts)).toEqual([]);
    expect(misp.Event.Object.filter((o: { name: string }) => o.name === 'ip-port')).toHaveLength(6);
    expect(misp.Event.Object.filter((o: { name: string }) => o.name === 'x509')).toHaveLength(1);
    expect(() => exportObservations(t.store, { format: 'xml' })).toThrow(/unknown export format/);
    expect(() => exportObservations(t.store, { format: 'csv', query: 'port:(' })).toThrow();
  });

  it('stores report definitions and runs them through one code path (preview = delivered text)', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'plum-rep-'));
    const rx = await receiver();
    try {
      const def = await createReportDefinition(
        t.store,
        { name: 'weekly-web', query: 'port:443 OR port:8080', every: '7d', destinations: [`dir:${dir}`, `webhook:${rx.url}`] },
        NOW,
      );
      const hook = await createWebhook(t.store, { name: 'weekly-web:webhook', url: rx.url, reportId: def.id }, NOW, LOOPBACK_RECEIVER);
      await expect(createReportDefinition(t.store, { name: 'weekly-web', every: '7d' })).rejects.toMatchObject({ code: 'conflict' });
      await expect(createReportDefinition(t.store, { name: 'x', every: '7d', destinations: ['ftp:nope'] })).rejects.toThrow(/invalid destination/);
      expect((await listReportDefinitions(t.store)).map((d) => d.name)).toEqual(['weekly-web']);

      const preview = await runReportDefinition({ store: t.store, webhook: LOOPBACK_RECEIVER }, 'weekly-web', { preview: true, now: NOW });
      const run = await runReportDefinition({ store: t.store, webhook: LOOPBACK_RECEIVER }, def.id, { now: NOW });
      expect(run.status).toBe('ok');
      expect(run.markdown).toBe(preview.markdown);
      const files = await fs.readdir(dir);
      expect(files).toEqual(['weekly-web-20260308-0000.md']);
      expect(await fs.readFile(path.join(dir, files[0]!), 'utf8')).toBe(preview.markdown);
      expect(preview.markdown).toContain('- Query: `port:443 OR port:8080`');
      expect(rx.requests).toHaveLength(1);
      const req = rx.requests[0]!;
      expect(
        verifyWebhookSignature(
          hook.secret,
          { signature: req.headers['x-plum-signature'] as string, timestamp: req.headers['x-plum-timestamp'] as string },
          req.body,
        ),
      ).toBe(true);
      expect(
        verifyWebhookSignature(
          'wrong',
          { signature: req.headers['x-plum-signature'] as string, timestamp: req.headers['x-plum-timestamp'] as string },
          req.body,
        ),
      ).toBe(false);
      expect(JSON.parse(req.body)).toMatchObject({ type: 'report', report: 'weekly-web', markdown: preview.markdown });

      // Scheduled: not due until next_run_at.
      expect(await runDueReports({ store: t.store, webhook: LOOPBACK_RECEIVER }, NOW)).toEqual([]);
      const later = new Date(NOW.getTime() + 7 * 86_400_000 + 1000);
      const due = await runDueReports({ store: t.store, webhook: LOOPBACK_RECEIVER }, later);
      expect(due.map((r) => r.definition.name)).toEqual(['weekly-web']);
      expect(await fs.readdir(dir)).toHaveLength(2);
      // The activity the runners register: same code path, small serialisable result.
      const acts = createReportActivities({ store: t.store, webhook: LOOPBACK_RECEIVER });
      const a = await acts.runReportDefinition('weekly-web');
      expect(a).toMatchObject({ report: 'weekly-web', status: 'ok' });
      expect(a.deliveries).toHaveLength(2);
      await expect(acts.runReportDefinition('nope')).rejects.toMatchObject({ code: 'not_found' });
      await deleteReportDefinition(t.store, 'weekly-web');
      expect(await listReportDefinitions(t.store)).toEqual([]);
    } finally {
      await rx.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('sends new matching events to webhooks, signed, and retries failures with backoff', async () => {
    const rx = await receiver();
    try {
      const hook = await createWebhook(t.store, { name: 'jenkins', url: rx.url, query: 'port:8080 OR port:22' }, new Date(), LOOPBACK_RECEIVER);
      // A new scan after the webhook exists: .3:22 goes away (not sent by default), .2:8080 changes, .3 gets 8080.
      const alt2 = port(8080, { service_name: ['http-proxy'], http_title: ['Jenkins 2'] });
      await scan(
        t.store,
        '2026-03-07T10:00:00Z',
        [host('127.0.0.2', '2026-03-07T10:00:00Z', [http80, alt2]), host('127.0.0.3', '2026-03-07T10:00:00Z', [alt])],
        'd',
      );
      const s = await dispatchWebhookEvents(t.store, { ...LOOPBACK_RECEIVER, baseDelayMs: 10 });
      expect(s.deliveries).toBe(1);
      const body = JSON.parse(rx.requests[0]!.body);
      expect(body.type).toBe('events');
      expect(body.events.map((e: { type: string; ip: string; port: number }) => `${e.type} ${e.ip}:${e.port}`).sort()).toEqual([
        'appeared 127.0.0.3:8080',
        'changed 127.0.0.2:8080',
      ]);
      const changed = body.events.find((e: { type: string }) => e.type === 'changed');
      expect(changed.field_changes).toEqual([{ field: 'http_title', old: ['Jenkins'], new: ['Jenkins 2'] }]);
      expect(
        verifyWebhookSignature(
          hook.secret,
          { signature: rx.requests[0]!.headers['x-plum-signature'] as string, timestamp: rx.requests[0]!.headers['x-plum-timestamp'] as string },
          rx.requests[0]!.body,
        ),
      ).toBe(true);
      // Idempotent: nothing new, nothing sent.
      expect((await dispatchWebhookEvents(t.store, { ...LOOPBACK_RECEIVER, baseDelayMs: 10 })).deliveries).toBe(0);

      // Receiver failing: 3 immediate attempts with backoff, then pending; later retries; failure visible.
      rx.setStatus(500);
      await scan(t.store, '2026-03-07T12:00:00Z', [host('127.0.0.3', '2026-03-07T12:00:00Z', [alt, ssh])], 'e');
      const before = rx.requests.length;
      const f = await dispatchWebhookEvents(t.store, { ...LOOPBACK_RECEIVER, baseDelayMs: 10, maxAttempts: 4 });
      expect(f.failed).toBe(1);
      expect(rx.requests.length - before).toBe(3);
      let status = (await listWebhookStatus(t.store)).find((w) => w.name === 'jenkins')!;
      expect(status).toMatchObject({ delivered: 1, pending: 1, failed: 0, lastStatus: 'pending', lastError: 'HTTP 500' });
      // The 4th (last) attempt, once its backoff elapsed, gives up: the delivery is marked failed.
      await retryDueDeliveries(t.store, { ...LOOPBACK_RECEIVER, now: new Date(Date.now() + 60_000), baseDelayMs: 10, maxAttempts: 4 });
      status = (await listWebhookStatus(t.store)).find((w) => w.name === 'jenkins')!;
      expect(status).toMatchObject({ delivered: 1, pending: 0, failed: 1, lastStatus: 'failed' });
      const [last] = await listDeliveries(t.store, hook.id, 1);
      expect(last).toMatchObject({ status: 'failed', attempts: 4, responseStatus: 500 });
      expect(rx.requests.length - before).toBe(4);
      // Same delivery id on every attempt: receivers can deduplicate.
      expect(new Set(rx.requests.slice(before).map((r) => r.headers['x-plum-delivery'])).size).toBe(1);
    } finally {
      await rx.close();
    }
  });

  it("sends a change's stored diff only: a value that differs where it is volatile is not a difference", async () => {
    const rx = await receiver();
    try {
      const mail = (title: string, date: string) =>
        port(8443, { service_name: ['smtp'], http_title: [title], banner: [`220 mail.example ESMTP Postfix ${date}`] });
      await scan(t.store, '2026-03-07T14:00:00Z', [host('127.0.0.9', '2026-03-07T14:00:00Z', [mail('Mail', 'Mon, 01 Jan 2026 10:00:00 +0000')])], 'f');
      await createWebhook(t.store, { name: 'mail', url: rx.url, query: 'port:8443' }, new Date(), LOOPBACK_RECEIVER);
      // A new title, and a banner whose only difference is its date.
      await scan(t.store, '2026-03-07T15:00:00Z', [host('127.0.0.9', '2026-03-07T15:00:00Z', [mail('Mail 2', 'Tue, 02 Jan 2026 11:30:00 +0000')])], 'g');
      expect((await dispatchWebhookEvents(t.store, { ...LOOPBACK_RECEIVER, baseDelayMs: 10 })).deliveries).toBe(1);
      const [changed, ...others] = JSON.parse(rx.requests[0]!.body).events as Record<string, unknown>[];
      expect(others).toEqual([]);
      expect(changed).toMatchObject({ type: 'changed', ip: '127.0.0.9', port: 8443 });
      expect(changed!.field_changes).toEqual([{ field: 'http_title', old: ['Mail'], new: ['Mail 2'] }]);
      // One list of differences, under the documented name.
      expect(Object.keys(changed!).filter((k) => k.includes('change'))).toEqual(['field_changes']);
    } finally {
      await rx.close();
    }
  });
});
