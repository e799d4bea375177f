import fs from 'node:fs';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FOLD_FROM, FOLD_TO, matchFields, matchHost, parseQuery, usesTime } from '../core/query/index.ts';
import { PlumError } from '../core/errors.ts';
import { fieldText, HOT_FIELDS, searchColumns, SEP } from '../store/search/columns.ts';
import { compileWhere, observationsFrom, scopeWhere } from '../store/search/compile.ts';
import { searchPorts } from '../store/search/index.ts';
import { storeKinds, openTestStore, type TestStore } from './helpers/db.ts';
import { recordingStore } from './helpers/recording.ts';
import { buildCorpus, insertCorpus, QUERY_CORPUS, type CorpusDoc } from './search-corpus.ts';

const NOW = new Date('2024-03-05T00:00:00Z');
const docs = buildCorpus();

const inScope = (d: CorpusDoc, history: boolean) => history || (d.current && d.state === 'open');

function expectedIds(q: string): string[] {
  const tree = parseQuery(q);
  const history = usesTime(tree);
  return docs
    .filter((d) => inScope(d, history) && matchFields(tree, d, NOW))
    .map((d) => d.id)
    .sort();
}

function expectedHosts(q: string): string[] {
  const tree = parseQuery(q);
  const history = usesTime(tree);
  const byIp = new Map<string, CorpusDoc[]>();
  for (const d of docs) if (inScope(d, history)) byIp.set(d.ip, [...(byIp.get(d.ip) ?? []), d]);
  return [...byIp]
    .filter(([, ports]) => matchHost(tree, ports, NOW))
    .map(([ip]) => ip)
    .sort();
}

it('keeps the SQL case folding identical to the JavaScript one', () => {
  const migration = fs.readFileSync(new URL('../store/migrations/0006_search_fold.sql', import.meta.url), 'utf8');
  expect(migration).toContain(`translate(v, '${FOLD_FROM}', '${FOLD_TO}')`);
  // 0012 replaces it with C-collation lower() for A-Z plus the rest of the same table.
  expect(FOLD_FROM.slice(0, 26)).toBe('ABCDEFGHIJKLMNOPQRSTUVWXYZ');
  expect(FOLD_TO.slice(0, 26)).toBe('abcdefghijklmnopqrstuvwxyz');
  const fast = fs.readFileSync(new URL('../store/migrations/0012_search_fold_fast.sql', import.meta.url), 'utf8');
  expect(fast).toContain(`translate(lower(v COLLATE "C"), '${FOLD_FROM.slice(26)}', '${FOLD_TO.slice(26)}')`);
});

describe.each(storeKinds)('search on %s', (kind) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(kind);
    await insertCorpus(t.store, docs);
  }, 120_000);
  afterAll(async () => {
    await t?.cleanup();
  });

  it('stores the search text the JavaScript reference computes', async () => {
    const rows = await t.store.query<{ id: string; search_text: string }>('select id, search_text from port_observations order by id');
    expect(rows).toHaveLength(docs.length);
    const entries = (s: string) => s.split(SEP).filter(Boolean).sort();
    for (const r of rows) {
      const d = docs.find((x) => x.id === r.id)!;
      expect(entries(r.search_text)).toEqual(entries(searchColumns(d.fields).searchText));
    }
    const cols = [...HOT_FIELDS].map((f) => `s_${f}`).join(', ');
    const hot = await t.store.query<Record<string, string>>(`select id, ${cols} from port_observations order by id`);
    for (const r of hot) {
      const d = docs.find((x) => x.id === r.id)!;
      for (const f of HOT_FIELDS) expect(r[`s_${f}`]).toBe(fieldText(d.fields[f as keyof typeof d.fields]));
    }
  });

  it('agrees with matchFields on every query of the corpus', async () => {
    let nonEmpty = 0;
    for (const q of QUERY_CORPUS) {
      const tree = parseQuery(q);
      const scope = usesTime(tree) ? 'history' : 'current';
      const rows = await t.store.query<{ id: string }>(
        sql`select po.id from ${observationsFrom()} where ${scopeWhere(scope)} and ${compileWhere(tree, { now: NOW })} order by po.id`,
      );
      const expected = expectedIds(q);
      if (expected.length) nonEmpty++;
      expect({ q, ids: rows.map((r) => r.id) }).toEqual({ q, ids: expected });
    }
    // The corpus must actually select things, not agree on emptiness.
    expect(nonEmpty).toBeGreaterThan(QUERY_CORPUS.length * 0.8);
  });

  it('groups results by IP with the matching ports, first/last seen and tags', async () => {
    for (const q of QUERY_CORPUS) {
      const res = await searchPorts(t.store, q, { now: NOW, limit: 1000 });
      const ids = res.hosts.flatMap((h) => h.ports.map((p) => p.id)).sort();
      expect({ q, ids }).toEqual({ q, ids: expectedIds(q) });
      for (const h of res.hosts) {
        const mine = docs.filter((d) => h.ports.some((p) => p.id === d.id));
        expect(mine.every((d) => d.ip === h.ip)).toBe(true);
        expect(h.last_seen).toBe(new Date(Math.max(...mine.map((d) => Date.parse(d.lastSeen)))).toISOString());
        expect(h.first_seen).toBe(new Date(Math.min(...mine.map((d) => Date.parse(d.firstSeen)))).toISOString());
      }
      // Sorted by last_seen, newest first.
      const keys = res.hosts.map((h) => h.last_seen);
      expect([...keys].sort().reverse()).toEqual(keys);
    }
    const r = await searchPorts(t.store, 'tag:vuln:opendir', { now: NOW });
    expect(r.hosts.map((h) => h.ip)).toEqual(['203.0.113.4', '192.0.2.10']);
    expect(r.hosts[1]!.ports).toEqual([
      expect.objectContaining({ protocol: 'tcp', port: 443, hsh256: expect.any(String), tags: ['vuln:opendir', 'product:nginx'] }),
    ]);
  });

  it('matches terms across ports of one host in host mode, as matchHost does', async () => {
    for (const q of QUERY_CORPUS) {
      const res = await searchPorts(t.store, q, { now: NOW, by: 'host', limit: 1000 });
      expect({ q, ips: res.hosts.map((h) => h.ip).sort() }).toEqual({ q, ips: expectedHosts(q) });
    }
    const res = await searchPorts(t.store, 'port:22 http_title.lk:backup', { now: NOW, by: 'host' });
    expect(res.hosts.map((h) => h.ip)).toEqual(['192.0.2.10']);
    expect(res.hosts[0]!.ports.map((p) => p.port)).toEqual([22, 443]);
    expect((await searchPorts(t.store, 'port:22 http_title.lk:backup', { now: NOW })).hosts).toEqual([]);
  });

  it('pages with a stable cursor, each IP once, in last_seen order', async () => {
    for (const by of ['port', 'host'] as const) {
      for (const sort of ['last_seen', 'score'] as const) {
        const all = await searchPorts(t.store, 'NOT port:0', { now: NOW, by, sort, limit: 1000 });
        expect(all.nextCursor).toBeUndefined();
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await searchPorts(t.store, 'NOT port:0', { now: NOW, by, sort, limit: 2, cursor });
          seen.push(...page.hosts.map((h) => h.ip));
          cursor = page.nextCursor;
          pages++;
        } while (cursor && pages < 50);
        expect(seen).toEqual(all.hosts.map((h) => h.ip));
        expect(new Set(seen).size).toBe(seen.length);
        expect(pages).toBeGreaterThan(3);
      }
    }
    const byScore = await searchPorts(t.store, 'NOT port:0', { now: NOW, sort: 'score' });
    expect(byScore.hosts[0]!.ip).toBe('198.51.100.7');
  });

  it('pages the same whatever the walk window, through every path of the newest-first walk', async () => {
    // Small windows over this small corpus make the walk (store/search/paging.ts newestFirst) cut windows
    // inside runs of equal last_seen, grow a window from the match rate, and switch to matching first
    // (which needs the table size: hence analyze). Every path must give the unpaged result.
    await t.store.query('analyze port_observations');
    await t.store.query('analyze observation_sightings');
    const paths = new Set<string>();
    const recording = recordingStore(t.store, (text) => {
      if (text.includes('cross join lateral')) paths.add('match first');
      else if (/offset \$\d+ limit 1/.test(text)) paths.add('window');
    });
    for (const q of QUERY_CORPUS) {
      for (const by of ['port', 'host'] as const) {
        const all = await searchPorts(t.store, q, { now: NOW, by, limit: 1000 });
        for (const walkWindow of [1, 3]) {
          const hosts: unknown[] = [];
          let cursor: string | undefined;
          let pages = 0;
          do {
            const page = await searchPorts(recording, q, { now: NOW, by, limit: 2, cursor, walkWindow });
            hosts.push(...page.hosts);
            cursor = page.nextCursor;
            pages++;
          } while (cursor && pages < 50);
          expect({ q, by, walkWindow, hosts }).toEqual({ q, by, walkWindow, hosts: all.hosts });
        }
      }
    }
    expect([...paths].sort()).toEqual(['match first', 'window']);
    await expect(searchPorts(t.store, 'port:22', { walkWindow: 0 })).rejects.toBeInstanceOf(PlumError);
  });

  it('refuses a cursor of another query and a bad limit', async () => {
    const page = await searchPorts(t.store, 'NOT port:0', { now: NOW, limit: 1 });
    await expect(searchPorts(t.store, 'port:22', { now: NOW, limit: 1, cursor: page.nextCursor })).rejects.toThrow(/another query/);
    await expect(searchPorts(t.store, 'port:22', { cursor: 'garbage!' })).rejects.toThrow(/invalid cursor/);
    await expect(searchPorts(t.store, 'port:22', { limit: 0 })).rejects.toBeInstanceOf(PlumError);
    await expect(searchPorts(t.store, 'port:22 (', {})).rejects.toMatchObject({ code: 'syntax', details: { position: 9 } });
  });

  it('runs token search over whole documents with web-search syntax', async () => {
    const ips = async (q: string) => (await searchPorts(t.store, q, { token: true, now: NOW })).hosts.map((h) => h.ip).sort();
    expect(await ips('dovecot')).toEqual(['198.51.100.8']);
    expect(await ips('openssh debian')).toEqual(['192.0.2.10']);
    expect(await ips('openssh -debian')).toEqual(['192.0.2.11']);
    expect(await ips('"dovecot ready" OR vsftpd')).toEqual(['198.51.100.8', '203.0.113.1']);
    await expect(searchPorts(t.store, '!!!', { token: true })).rejects.toThrow(/nothing to search/);
  });

  it('finds a product, a version and the two together inside a versioned token', async () => {
    const ips = async (q: string) => (await searchPorts(t.store, q, { token: true, now: NOW })).hosts.map((h) => h.ip).sort();
    const nginxHosts = ['192.0.2.10', '2001:db8::5'];
    expect(await ips('nginx/1.18.0')).toEqual(nginxHosts);
    expect(await ips('nginx')).toEqual(nginxHosts);
    expect(await ips('1.18.0')).toEqual(nginxHosts);
    expect(await ips('"nginx 1.18.0"')).toEqual(nginxHosts);
    expect(await ips('apache/2.4.57')).toEqual(['198.51.100.9']);
    expect(await ips('2.4.57')).toEqual(['198.51.100.9']);
    expect(await ips('apache')).toEqual(['198.51.100.9', '203.0.113.4']);
    // The parts stay a phrase: another product's version next to nginx does not match.
    expect(await ips('nginx/2.4.57')).toEqual([]);
    expect(await ips('nginx -nginx/1.18.0')).toEqual([]);
  });

  it('serves prefix, substring and net terms from indexes (EXPLAIN)', async () => {
    const plan = async (q: string) => {
      const tree = parseQuery(q);
      const where = compileWhere(tree, { now: NOW });
      return t.store.transaction(async (tx) => {
        await tx.query('set local enable_seqscan = off');
        const rows = await tx.query<{ 'QUERY PLAN': string }>(sql`explain select po.id from port_observations po where ${where}`);
        return rows.map((r) => Object.values(r)[0]).join('\n');
      });
    };
    expect(await plan('http_server.lk:nginx')).toContain('port_observations_s_http_server_trgm_idx');
    expect(await plan('http_title.bg:"index of"')).toContain('port_observations_s_http_title_trgm_idx');
    expect(await plan('x509_san.lk:example')).toContain('port_observations_s_x509_san_trgm_idx');
    expect(await plan('http_headval:server.lk:nginx')).toContain('port_observations_s_http_headval_trgm_idx');
    expect(await plan('http_cookiename.lk:sess')).toContain('port_observations_search_text_trgm_idx');
    expect(await plan('ptr.bg:mail')).toContain('port_observations_search_text_trgm_idx');
    // A network is a range on a btree led by ip (the planner derives the bounds from `<<=`); no GiST index exists.
    expect(await plan('net:198.51.0.0/16')).toMatch(/Index Cond: \(\(ip >= '198\.51\.0\.0\/16'::inet\) AND \(ip <= '198\.51\.255\.255'::inet\)\)/);
    expect(await plan('net:198.51.0.0/16')).toMatch(/port_observations_(fp|current)_key/);
    expect(await plan('ip:198.51.100.9')).toMatch(/Index Cond: \(ip = '198\.51\.100\.9'::inet\)/);
    expect(await plan('tag.bg:vendor:')).toContain('observation_tags_tags_text_idx');
    expect(await plan('tag:vendor:fortinet')).toContain('observation_tags_tags_idx');
  });
});

/** Queries built from the values of really parsed and ingested nmap results. */
function queriesFromValues(rows: { fields: Record<string, string[]> }[]): string[] {
  const q = (v: string) => `"${v.replace(/(["\\])/g, '\\$1')}"`;
  const out = new Set<string>();
  const add = (query: string) => {
    if (!query.includes('""')) out.add(query);
  };
  const fields = [
    'http_title',
    'http_server',
    'banner',
    'service_name',
    'service_product',
    'service_version',
    'fqdn',
    'domain',
    'host',
    'x509_san',
    'x509_subject',
    'x509_issuer_cn',
    'cpe',
    'script',
    'ptr',
    'http_header',
    'tld',
    'fqdn_requested',
    'x509_sha256',
  ];
  for (const r of rows) {
    for (const f of fields) {
      for (const v of (r.fields[f] ?? []).slice(0, 2)) {
        if (!v.trim()) continue;
        add(`${f}:${q(v)}`);
        add(`${f}:${q(v.toUpperCase())}`);
        if (f !== 'x509_sha256' && f !== 'cpe' && f !== 'script' && f !== 'http_header') add(`${f}.lk:${q(v.slice(1, 6))}`);
        add(`${f}.bg:${q(v.slice(0, 4))}`);
      }
    }
    for (const hv of (r.fields.http_headval ?? []).slice(0, 3)) {
      const i = hv.indexOf(': ');
      if (i <= 0 || !hv.slice(i + 2).trim()) continue;
      const name = hv.slice(0, i);
      const value = hv.slice(i + 2);
      add(`http_headval:${q(name)}:${q(value)}`);
      add(`http_headval:${q(name)}.lk:${q(value.slice(1, 5))}`);
      add(`NOT http_headval:${q(name)}.bg:${q(value.slice(0, 3))}`);
    }
  }
  return [...out];
}

describe.each(storeKinds)('search over ingested nmap results on %s', (kind) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(kind);
    const { parseNmapString } = await import('../core/nmap/parse.ts');
    const { ingestScanResult } = await import('../store/ingest.ts');
    for (const f of ['circl.xml', 'libnmap-1_os_banner_scripts.xml', 'libnmap-2_hosts_version.xml', 'libnmap-os_scan6.xml']) {
      const xml = fs.readFileSync(new URL(`./fixtures/nmap/${f}`, import.meta.url), 'utf8');
      await ingestScanResult(t.store, { scan: parseNmapString(xml), source: f });
    }
  }, 120_000);
  afterAll(async () => {
    await t?.cleanup();
  });

  it('agrees with matchFields on queries made from the stored values', async () => {
    const rows = await t.store.query<{ id: string; fields: CorpusDoc['fields']; tags: string[]; score: number; first_seen: Date; last_seen: Date }>(
      'select id, fields, tags, score, first_seen, last_seen from port_observations join observation_sightings using (id) order by id',
    );
    expect(rows.length).toBeGreaterThan(10);
    const queries = queriesFromValues(rows as unknown as { fields: Record<string, string[]> }[]);
    expect(queries.length).toBeGreaterThan(100);
    let nonEmpty = 0;
    for (const q of queries) {
      const tree = parseQuery(q);
      const got = await t.store.query<{ id: string }>(sql`select po.id from ${observationsFrom()} where ${compileWhere(tree, { now: NOW })} order by po.id`);
      const want = rows
        .filter((r) => matchFields(tree, { fields: r.fields, tags: r.tags, score: r.score, firstSeen: r.first_seen, lastSeen: r.last_seen }, NOW))
        .map((r) => r.id);
      if (want.length) nonEmpty++;
      expect({ q, ids: got.map((r) => r.id) }).toEqual({ q, ids: want });
    }
    expect(nonEmpty).toBeGreaterThan(queries.length * 0.9);
  });
});
