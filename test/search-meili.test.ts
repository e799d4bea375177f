import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import { parseNmapString } from '../core/nmap/parse.ts';
import { ingestScanResult } from '../store/ingest.ts';
import { searchPorts } from '../store/search/index.ts';
import { MEILI_SETTINGS, MeiliIndexer, meiliFromConfig } from '../store/search/meili.ts';
import { reindexSearch } from '../store/search/reindex.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';
import { startMeiliDouble, type MeiliDouble } from './meili-double/server.ts';
import { buildCorpus, insertCorpus } from './search-corpus.ts';

/**
 * The Meilisearch adapter against a local HTTP double of the documented API
 * (test/meili-double): this verifies the calls we make and how we use the
 * answers, not a real Meilisearch server (none can be installed here).
 */
const NOW = new Date('2024-03-05T00:00:00Z');
const KEY = 'test-master-key';

describe.each(storeKinds)('Meilisearch adapter on %s', (kind) => {
  let t: TestStore;
  let meili: MeiliDouble;
  const docs = buildCorpus();
  const openIds = docs
    .filter((d) => d.current && d.state === 'open')
    .map((d) => d.id)
    .sort();

  beforeAll(async () => {
    t = await openTestStore(kind);
    await insertCorpus(t.store, docs);
  }, 120_000);
  afterAll(async () => {
    await t?.cleanup();
  });
  afterEach(async () => {
    expect(meili.unexpected).toEqual([]);
    await meili.close();
  });

  it('reindexes every current open port by id, idempotently, with the settings applied', async () => {
    meili = await startMeiliDouble({ apiKey: KEY });
    const indexer = new MeiliIndexer(meili.url, KEY, 'plum_ports');
    const first = await reindexSearch(t.store, { meili: indexer, batch: 4 });
    expect(first).toMatchObject({ backend: 'meilisearch', indexed: openIds.length });
    const ix = meili.indexes.get('plum_ports')!;
    expect(ix.settings).toEqual(MEILI_SETTINGS);
    expect(ix.primaryKey).toBe('id');
    expect([...ix.docs.keys()].sort()).toEqual(openIds);
    const doc = ix.docs.get('obs_test0002')!;
    expect(doc).toMatchObject({
      ip: '192.0.2.10',
      port: 443,
      protocol: 'tcp',
      tags: ['vuln:opendir', 'product:nginx'],
      score: 72,
      http_title: ['Index of /backup'],
    });
    expect(doc.last_seen).toBe(Date.parse('2024-03-01T12:00:00Z') / 1000);
    // A stale document (an observation no longer current) is removed by reindex.
    ix.docs.set('obs_test0013', { id: 'obs_test0013', banner: ['220 (vsFTPd 2.3.4)'] });
    await reindexSearch(t.store, { meili: indexer, batch: 4 });
    expect([...ix.docs.keys()].sort()).toEqual(openIds);
  });

  it('serves token search from Meilisearch, grouped by IP and re-checked against current ports', async () => {
    meili = await startMeiliDouble({ apiKey: KEY });
    const config = loadConfig({ PLUM_HOME: t.config.home, PLUM_MEILI_URL: meili.url, PLUM_MEILI_KEY: KEY });
    const m = meiliFromConfig(config)!;
    await reindexSearch(t.store, { meili: m.indexer });
    // A hit on a document that is no longer current must not show.
    meili.indexes.get('plum_ports')!.docs.set('obs_test0013', { id: 'obs_test0013', banner: ['220 (vsFTPd 2.3.4) dovecot'] });
    const res = await searchPorts(t.store, 'dovecot', { token: true, tokenBackend: m.backend, now: NOW });
    expect(res.backend).toBe('meilisearch');
    expect(res.hosts.map((h) => h.ip)).toEqual(['198.51.100.8']);
    expect(res.hosts[0]!.ports.map((p) => p.port).sort()).toEqual([110, 993]);
    expect(meili.requests.some((r) => r.method === 'POST' && r.path === '/indexes/plum_ports/search')).toBe(true);

    // Paging: one IP per page, every IP once.
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await searchPorts(t.store, 'debian', { token: true, tokenBackend: m.backend, limit: 1, cursor });
      seen.push(...page.hosts.map((h) => h.ip));
      cursor = page.nextCursor;
    } while (cursor && ++pages < 40);
    const all = await searchPorts(t.store, 'debian', { token: true, tokenBackend: m.backend, limit: 1000 });
    expect(seen).toEqual(all.hosts.map((h) => h.ip));
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBe(3);
  });

  it('reports an unreachable server or a failed task as one clear error', async () => {
    meili = await startMeiliDouble({ apiKey: KEY });
    const wrongKey = new MeiliIndexer(meili.url, 'nope', 'plum_ports');
    await expect(wrongKey.searchIds('x', 0, 5)).rejects.toMatchObject({ code: 'unavailable', message: expect.stringContaining('Meilisearch search failed') });
    const indexer = new MeiliIndexer(meili.url, KEY, 'plum_ports');
    meili.failNextTask('disk full');
    await expect(
      indexer.upsert([{ id: 'obs_x', ip: '192.0.2.1', protocol: 'tcp', port: 1, firstSeen: NOW, lastSeen: NOW, fields: docs[0]!.fields, tags: [], score: 0 }]),
    ).rejects.toMatchObject({ code: 'unavailable', message: expect.stringContaining('disk full') });
  });

  it('indexes at ingest through deps.afterCommit, idempotently', async () => {
    meili = await startMeiliDouble();
    const indexer = new MeiliIndexer(meili.url, undefined, 'ingest_ports');
    const xml = fs.readFileSync(new URL('./fixtures/nmap/libnmap-2_hosts_version.xml', import.meta.url), 'utf8');
    const scan = parseNmapString(xml);
    const ports = scan.hosts.flatMap((h) => h.ports.filter((p) => p.state === 'open'));
    expect(ports.length).toBeGreaterThan(3);
    await ingestScanResult(t.store, { scan, source: 'libnmap-2_hosts_version.xml' }, { afterCommit: indexer.afterCommit });
    const ix = meili.indexes.get('ingest_ports')!;
    expect(ix.docs.size).toBe(ports.length);
    const stored = await t.store.query<{ id: string }>(
      `select id from port_observations where current and state = 'open' and id not like 'obs_test%' order by id`,
    );
    expect([...ix.docs.keys()].sort()).toEqual(stored.map((r) => r.id));
    // The same result again: same ids, no duplicates.
    await ingestScanResult(t.store, { scan: parseNmapString(xml), source: 'again' }, { afterCommit: indexer.afterCommit });
    expect(ix.docs.size).toBe(ports.length);
  });
});
