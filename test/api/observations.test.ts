import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SCORE_FILE } from '../../core/score.ts';
import { ingestScanResult } from '../../store/ingest.ts';
import { storeKinds } from '../helpers/db.ts';
import { host, port, scan } from '../helpers/scan.ts';
import { expectError, expectSecured, startTestApi, startTestApiOn, type TestApi } from './helpers.ts';

/** Hosts, history and search over data stored by the real ingest. */
describe.each(storeKinds)('hosts, history, search (%s)', (kind) => {
  let api: TestApi;
  const t0 = new Date(Date.now() - 3 * 86_400_000).toISOString();
  const t1 = new Date(Date.now() - 86_400_000).toISOString();
  beforeAll(async () => {
    api = await startTestApi(kind);
    await ingestScanResult(api.store, {
      source: 'test',
      scan: scan([host('127.0.5.1', t0, [port(22, 'SSH-2.0-OpenSSH_9.2p1 Debian-2'), port(80, 'nginx')]), host('127.0.5.2', t0, [port(443, 'apache')])]),
    });
    await ingestScanResult(api.store, {
      source: 'test',
      scan: scan([host('127.0.5.1', t1, [port(22, 'SSH-2.0-OpenSSH_9.6p1 Debian-4'), port(80, 'nginx')]), host('127.0.5.2', t1, [])]),
    });
  }, 180_000);
  afterAll(async () => {
    await api?.close();
  });

  it('GET /v1/hosts/{ip} shows services, history and the score explanation', async () => {
    const res = await api.call('/v1/hosts/127.0.5.1', { auth: api.keys.viewer });
    expect(res.status).toBe(200);
    const h = (await res.json()) as {
      ip: string;
      services: { port: number; state: string; fields: { banner: string[] } }[];
      history: { type: string; port: number }[];
      score: { score: number; band: string; features: { name: string; contribution: number }[] };
    };
    expect(h.ip).toBe('127.0.5.1');
    expect(h.services.map((s) => [s.port, s.state])).toEqual([
      [22, 'open'],
      [80, 'open'],
    ]);
    expect(h.services[0]!.fields.banner).toEqual(['SSH-2.0-OpenSSH_9.6p1 Debian-4']);
    expect(h.history.map((e) => `${e.type}:${e.port}`).sort()).toEqual(['appeared:22', 'appeared:80', 'changed:22']);
    expect(h.score.features.map((f) => f.name)).toContain('open_ports');
    expect(h.score.features.reduce((a, f) => a + f.contribution, 0)).toBeCloseTo(h.score.score, 0);
  });

  it('GET /v1/hosts/{ip} scores with the weights PLUM_SCORE_FILE names', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'plum-score-'));
    const file = path.join(dir, 'score.yaml');
    const weights = (await fs.readFile(DEFAULT_SCORE_FILE, 'utf8')).replace(
      /^(host:\n  weights:\n)([\s\S]*?)(\n\n)/m,
      (_m, head: string, body: string, tail: string) => head + body.replace(/: \d+/g, ': 0').replace('open_ports: 0', 'open_ports: 100') + tail,
    );
    await fs.writeFile(file, weights);
    const custom = await startTestApiOn(api, undefined, undefined, { ...api.config, PLUM_SCORE_FILE: file });
    try {
      const score = async (call: TestApi['call']) =>
        (
          (await (await call('/v1/hosts/127.0.5.1', { auth: api.keys.viewer })).json()) as {
            score: { features: { name: string; weight: number }[] };
          }
        ).score.features.find((f) => f.name === 'open_ports')!.weight;
      expect(await score(custom.call)).toBe(100);
      expect(await score(api.call)).toBe(20);
    } finally {
      await custom.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['/v1/hosts/not-an-ip', 400, 'invalid_input', 'invalid path field "ip": must be an IPv4 or IPv6 address'],
    ['/v1/hosts/127.0.5.99', 404, 'not_found', 'nothing is known about 127.0.5.99'],
    ['/v1/hosts/127.0.5.1?events=-1', 400, 'invalid_input', 'invalid query field "events": Too small: expected number to be >=0'],
  ])('GET %s is refused', async (path, status, code, message) => {
    await expectError(await api.call(path, { auth: api.keys.viewer }), status, code, message);
  });

  it('GET /v1/history filters by period, type and network', async () => {
    const all = (await (await api.call('/v1/history?since=7d', { auth: api.keys.viewer })).json()) as { items: { type: string; ip: string; port: number }[] };
    expect(all.items.map((e) => `${e.type}:${e.ip}:${e.port}`).sort()).toEqual([
      'appeared:127.0.5.1:22',
      'appeared:127.0.5.1:80',
      'appeared:127.0.5.2:443',
      'changed:127.0.5.1:22',
      'gone:127.0.5.2:443',
    ]);
    const gone = (await (await api.call('/v1/history?types=gone,changed&net=127.0.5.2/32', { auth: api.keys.viewer })).json()) as { items: { type: string }[] };
    expect(gone.items.map((e) => e.type)).toEqual(['gone']);
    const recent = (await (await api.call('/v1/history?since=2d', { auth: api.keys.viewer })).json()) as { items: unknown[] };
    expect(recent.items).toHaveLength(2);
    // By tag: the events of the services that carry it.
    await api.store.query(`update port_observations set tags = array['team:test'] where host(ip) = '127.0.5.2'`);
    const tagged = (await (await api.call('/v1/history?since=7d&tag=team:test', { auth: api.keys.viewer })).json()) as {
      items: { type: string; ip: string }[];
    };
    expect(tagged.items.map((e) => `${e.type}:${e.ip}`).sort()).toEqual(['appeared:127.0.5.2', 'gone:127.0.5.2']);
    const none = (await (await api.call('/v1/history?since=7d&tag=team:none', { auth: api.keys.viewer })).json()) as { items: unknown[] };
    expect(none.items).toEqual([]);
  });

  it.each([
    ['/v1/history?types=born', 'invalid query field "types": must be a comma-separated list of appeared, changed, gone, reappeared'],
    ['/v1/history?since=yesterday', 'invalid query field "since": must be a duration like 7d, 12h, 30m, 2w or an ISO date'],
    ['/v1/history?net=example.org', 'invalid query field "net": "example.org" is not an address or CIDR'],
    ['/v1/history?limit=0', 'invalid query field "limit": Too small: expected number to be >=1'],
  ])('GET %s is refused', async (path, message) => {
    await expectError(await api.call(path, { auth: api.keys.viewer }), 400, 'invalid_input', message);
  });

  it('GET /v1/search: structured, host mode, token mode, ndjson and paging', async () => {
    const r = (await (await api.call(`/v1/search?q=${encodeURIComponent('port:22 banner.lk:openssh')}`, { auth: api.keys.viewer })).json()) as {
      hosts: { ip: string; ports: { port: number }[] }[];
      mode: string;
    };
    expect(r.mode).toBe('structured');
    expect(r.hosts.map((h) => h.ip)).toEqual(['127.0.5.1']);
    expect(r.hosts[0]!.ports.map((p) => p.port)).toEqual([22]);
    // One naming convention on the API: camelCase keys, here as on every other route.
    expect(Object.keys(r.hosts[0]!).sort()).toEqual(['firstSeen', 'ip', 'lastSeen', 'ports', 'score', 'tags']);
    expect(Object.keys(r.hosts[0]!.ports[0]!).filter((k) => /_/.test(k))).toEqual([]);
    expect(r.hosts[0]!.ports[0]).toMatchObject({ firstSeen: expect.any(String), lastSeen: expect.any(String) });

    const perPort = (await (await api.call(`/v1/search?q=${encodeURIComponent('port:22 port:80')}`, { auth: api.keys.viewer })).json()) as { hosts: unknown[] };
    expect(perPort.hosts).toEqual([]);
    const byHost = (await (await api.call(`/v1/search?by=host&q=${encodeURIComponent('port:22 port:80')}`, { auth: api.keys.viewer })).json()) as {
      hosts: { ip: string }[];
    };
    expect(byHost.hosts.map((h) => h.ip)).toEqual(['127.0.5.1']);

    const tok = (await (await api.call(`/v1/search?mode=token&q=${encodeURIComponent('openssh debian')}`, { auth: api.keys.viewer })).json()) as {
      mode: string;
      hosts: { ip: string }[];
    };
    expect(tok.mode).toBe('token');
    expect(tok.hosts.map((h) => h.ip)).toEqual(['127.0.5.1']);

    const page1 = (await (await api.call(`/v1/search?limit=1&q=${encodeURIComponent('ip:127.0.5.0/24')}&scope=history`, { auth: api.keys.viewer })).json()) as {
      hosts: { ip: string }[];
      nextCursor?: string;
    };
    expect(page1.hosts).toHaveLength(1);
    expect(page1.nextCursor).toBeTruthy();
    const page2 = (await (
      await api.call(`/v1/search?limit=1&q=${encodeURIComponent('ip:127.0.5.0/24')}&scope=history&cursor=${page1.nextCursor}`, { auth: api.keys.viewer })
    ).json()) as { hosts: { ip: string }[]; nextCursor?: string };
    expect(page2.hosts).toHaveLength(1);
    expect(page2.hosts[0]!.ip).not.toBe(page1.hosts[0]!.ip);

    const nd = await api.call(`/v1/search?format=ndjson&q=${encodeURIComponent('port:80')}`, { auth: api.keys.viewer });
    expect(nd.headers.get('content-type')).toMatch(/application\/x-ndjson/);
    const lines = (await nd.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { ip: string; lastSeen: string });
    expect(lines.map((l) => l.ip)).toEqual(['127.0.5.1']);
    expect(lines[0]!.lastSeen).toEqual(expect.any(String));
  });

  it.each([
    ['', 400, 'invalid_input', 'invalid query field "q": Invalid input: expected string, received undefined'],
    ['q=port:', 400, 'syntax', undefined],
    ['q=port:22&limit=5000', 400, 'invalid_input', 'invalid query field "limit": Too big: expected number to be <=1000'],
    ['q=port:22&by=net', 400, 'invalid_input', 'invalid query field "by": Invalid option: expected one of "port"|"host"'],
    ['q=port:22&cursor=garbage', 400, 'invalid_input', 'invalid cursor'],
  ])('GET /v1/search?%s is refused', async (qs, status, code, message) => {
    const err = await expectError(await api.call(`/v1/search?${qs}`, { auth: api.keys.viewer }), status, code, message);
    if (code === 'syntax') expect((err as { details?: { position?: number } }).details?.position).toBeTypeOf('number');
  });

  it('GET /v1/jobs/{id}/raw gives back the XML stored with a job, byte for byte, with its digest and ingest error', async () => {
    // A truncated result keeps its whole file and the error (store/ingest.ts).
    const xml = Buffer.from(
      `<?xml version="1.0"?><nmaprun scanner="nmap" start="1700000000"><host starttime="1700000000" endtime="1700000001"><status state="up"/><address addr="127.0.5.9" addrtype="ipv4"/><ports><port protocol="tcp" portid="22"><state state="open" reason="syn-ack"/></port></ports></host><host><status st`,
    );
    const { parseNmapStream } = await import('../../core/nmap/parse.ts');
    const { scanFromStream } = await import('../../store/ingest.ts');
    const s = await ingestScanResult(api.store, {
      source: 'truncated.xml',
      rawXml: xml,
      scan: scanFromStream(parseNmapStream([xml], { source: 'truncated.xml' })),
    });
    expect(s.errors).toHaveLength(1);
    const res = await api.call(`/v1/jobs/${s.jobId}/raw`, { auth: api.keys.viewer });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/xml');
    expect(Buffer.compare(Buffer.from(await res.arrayBuffer()), xml)).toBe(0);
    expect(res.headers.get('x-plum-sha256')).toBe(createHash('sha256').update(xml).digest('hex'));
    expect(res.headers.get('x-plum-parser-version')).toMatch(/^\d+$/);
    const ingestError = decodeURIComponent(res.headers.get('x-plum-ingest-error')!);
    expect(ingestError).toMatch(/^the nmap XML is truncated inside the <host> element/);
    expect(s.errors[0]!.startsWith(ingestError)).toBe(true); // the summary adds what to do next

    await expectError(await api.call('/v1/jobs/abc/raw', { auth: api.keys.viewer }), 400, 'invalid_input', 'invalid path field "id": must be a job_… id');
    await expectError(
      await api.call('/v1/jobs/job_01jd0000000000000000000000/raw', { auth: api.keys.viewer }),
      404,
      'not_found',
      'no job job_01jd0000000000000000000000',
    );
    await api.store.query('delete from raw_results where job_id = $1', [s.jobId]);
    await expectError(await api.call(`/v1/jobs/${s.jobId}/raw`, { auth: api.keys.viewer }), 404, 'not_found', `no nmap XML is stored for job ${s.jobId}`);
    await expectSecured(api, 'GET', `/v1/jobs/${s.jobId}/raw`, 'viewer');
  });

  it('host, history and search need a viewer key; search is rate limited', async () => {
    await expectSecured(api, 'GET', '/v1/hosts/127.0.5.1', 'viewer');
    await expectSecured(api, 'GET', '/v1/history', 'viewer');
    await expectSecured(api, 'GET', '/v1/search?q=port:22', 'viewer');
    const limited = { ...(await startTestApiOn(api, {}, { expensivePerMinute: 2 })), keys: api.keys };
    try {
      for (let i = 0; i < 2; i++) expect((await limited.call('/v1/search?q=port:22', { auth: limited.keys.viewer })).status).toBe(200);
      await expectError(
        await limited.call('/v1/search?q=port:22', { auth: limited.keys.viewer }),
        429,
        'rate_limited',
        'too many requests: at most 2 a minute on this route',
      );
      // Per key: another key still gets through.
      expect((await limited.call('/v1/search?q=port:22', { auth: limited.keys.admin })).status).toBe(200);
    } finally {
      await limited.close();
    }
  }, 180_000);
});
