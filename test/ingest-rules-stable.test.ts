import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNmapStream } from '../core/nmap/parse.ts';
import { emptySearchFields, type SearchFields } from '../core/fields.ts';
import { compileRules, type RuleSet } from '../core/rules/engine.ts';
import { loadFaviconDb, type FaviconDb } from '../core/rules/favicon-db.ts';
import { ruleHash } from '../core/rules/schema.ts';
import { DEFAULT_SCORE_FILE, loadScoreConfig, type ScoreConfig } from '../core/score.ts';
import { ingestScanResult, scanFromStream, type IngestPort } from '../store/ingest.ts';
import { applyRules, createRuleIngestDeps, listStoredRules, loadStoredRuleSet } from '../store/rules/index.ts';
import { TAGGED_KEY } from '../store/repos/tagged-state.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';
import { host, scan } from './helpers/scan.ts';

function svc(portNo: number, f: Partial<SearchFields>): IngestPort {
  const fields = { ...emptySearchFields(), port: [String(portNo)], protocol: ['tcp'], state: ['open'], ...f };
  return { protocol: 'tcp', port: portNo, state: 'open', hsh256: `h${portNo}-${Object.values(f).flat().join('|')}`, fpVersion: 1, fields, doc: { f } };
}

/**
 * Ingest with rules (issue 26): while the stored tags follow the rules (store/repos/tagged-state.ts), a stable
 * sighting keeps its stored tags and the rules run only on the ports that leave the stable fast path.
 */
describe.each(storeKinds)('ingest with rules, stable sightings (%s)', (kind) => {
  let t: TestStore;
  let favicons: FaviconDb;
  let cfg: ScoreConfig;
  beforeAll(async () => {
    t = await openTestStore(kind);
    favicons = await loadFaviconDb();
    cfg = await loadScoreConfig(DEFAULT_SCORE_FILE);
  });
  afterAll(() => t.cleanup());

  const nginx = svc(80, { http_server: ['nginx/1.24.0'], http_title: ['Welcome to nginx!'] });
  const redis = svc(6379, { service_name: ['redis'] });
  /** Ingests one host at `at` with `set`, counting the ports the rules were evaluated on. */
  const ingest = async (set: RuleSet, at: string, ports: IngestPort[]) => {
    const deps = createRuleIngestDeps(t.store, { set, score: cfg });
    const tagged: number[] = [];
    const summary = await ingestScanResult(
      t.store,
      { source: 'test', scan: scan([host('127.0.5.1', at, ports)], '80,6379,8080') },
      {
        ...deps,
        tagPort: (p) => {
          tagged.push(p.port);
          return deps.tagPort(p);
        },
      },
    );
    return { summary, tagged: tagged.sort((a, b) => a - b) };
  };
  const tagsOf = async (port: number) =>
    (await t.store.query<{ tags: string[] }>(`select tags from port_observations where ip = '127.0.5.1' and port = $1 and current`, [port]))[0]!.tags;
  const marker = async () => (await t.store.query<{ hash: string }>('select hash from rule_applications where name = $1', [TAGGED_KEY]))[0]?.hash;

  it('tags only the ports that are not stable sightings, keeping the stored tags of the others', async () => {
    const set = await loadStoredRuleSet(t.store, { favicons });
    // An empty store: whatever it will hold follows these rules.
    const first = await ingest(set, '2026-01-01T00:00:00Z', [nginx, redis]);
    expect(first.tagged).toEqual([80, 6379]);
    expect(await marker()).toMatch(/^[0-9a-f]{64}$/);
    expect(await tagsOf(80)).toContain('product:nginx');
    const second = await ingest(set, '2026-01-02T00:00:00Z', [nginx, redis, svc(8080, { http_server: ['nginx'] })]);
    expect(second.summary).toMatchObject({ stable: 2, appeared: 1 });
    expect(second.tagged).toEqual([8080]);
    expect(await tagsOf(80)).toContain('product:nginx');
    expect(await tagsOf(8080)).toContain('product:nginx');
  });

  it('tags every port again while a rule edit awaits `plum rules apply`, then trusts the applied tags', async () => {
    const rules = await listStoredRules(t.store);
    const edited = rules.map((r) =>
      r.name === 'web-nginx' ? { ...r, tags: [...r.tags, 'team:web'], hash: ruleHash({ ...r, tags: [...r.tags, 'team:web'] }) } : r,
    );
    const set = compileRules(edited, { favicons });
    const pending = await ingest(set, '2026-01-03T00:00:00Z', [nginx, redis]);
    // The stored tags follow the old rules: the stable port is tagged with the new ones, as before this path existed.
    expect(pending.tagged).toEqual([80, 6379]);
    expect(await tagsOf(80)).toContain('team:web');
    expect(await marker()).toBeUndefined();
    // Still mixed (8080 has the old tags) until an apply: the next ingest with the same rules tags again.
    expect((await ingest(set, '2026-01-04T00:00:00Z', [nginx, redis])).tagged).toEqual([80, 6379]);
    await applyRules(t.store, set, cfg);
    expect(await marker()).toMatch(/^[0-9a-f]{64}$/);
    // The apply re-tagged the port gone since 01-03 too.
    expect(await tagsOf(8080)).toContain('team:web');
    const applied = await ingest(set, '2026-01-05T00:00:00Z', [nginx, redis]);
    expect(applied.summary).toMatchObject({ stable: 2 });
    expect(applied.tagged).toEqual([]);
    expect(await tagsOf(80)).toContain('team:web');
  });

  it('re-tags a stable certificate port, parsed from nmap XML, only when a certificate date passes between sightings', async () => {
    const set = await loadStoredRuleSet(t.store, { favicons });
    await applyRules(t.store, set, cfg);
    const deps = createRuleIngestDeps(t.store, { set, score: cfg });
    // nmap's own result for a TLS service on loopback: a certificate valid until 2029-02-25, scanned in 2026-11.
    const fixture = readFileSync(new URL('fixtures/nmap/loopback-https.xml', import.meta.url), 'utf8');
    const at = (iso: string) => fixture.replace(/\b(start|starttime|endtime|time)="\d+"/g, `$1="${Date.parse(iso) / 1000}"`);
    const scanned = async (iso: string) => {
      // Parsed as `plum ingest` parses it.
      return ingestScanResult(t.store, { source: 'test', scan: scanFromStream(parseNmapStream([at(iso)], { documentsOnDemand: true })) }, deps);
    };
    const certTags = async () =>
      (
        await t.store.query<{ tags: string[] }>(`select tags from port_observations where port = 443 and current and fields -> 'x509_not_after' <> '[]'`)
      ).flatMap((r) => r.tags.filter((tag) => tag.startsWith('x509:')));
    await scanned('2026-11-23T12:00:00Z');
    expect(await certTags()).not.toContain('x509:expiring-soon');
    expect((await scanned('2027-06-01T00:00:00Z')).stable).toBe(1);
    expect(await certTags()).not.toContain('x509:expiring-soon');
    expect((await scanned('2029-02-01T00:00:00Z')).stable).toBe(1);
    expect(await certTags()).toContain('x509:expiring-soon');
    expect((await scanned('2029-03-01T00:00:00Z')).stable).toBe(1);
    expect(await certTags()).toContain('x509:expired');
  });
});
