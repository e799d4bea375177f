import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateReport } from '../activities/report.ts';
import { emptySearchFields, type SearchFields } from '../core/fields.ts';
import { DEFAULT_SCORE_FILE, loadScoreConfig } from '../core/score.ts';
import { ingestScanResult, type IngestPort } from '../store/ingest.ts';
import { hostDetail } from '../api/views/host.ts';
import { getHostScore } from '../store/repos/host-score.ts';
import { createRuleIngestDeps, explainHost, loadStoredRuleSet } from '../store/rules/index.ts';
import { host, scan } from './helpers/scan.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';

/*
 * The report's host score and `plum explain` agree on the same host at the
 * same moment, including the "recently changed" feature (a port whose
 * fingerprint changed a day ago) and the slot's first sighting.
 */

function svc(portNo: number, title: string): IngestPort {
  const fields: SearchFields = {
    ...emptySearchFields(),
    port: [String(portNo)],
    protocol: ['tcp'],
    state: ['open'],
    service_name: ['http'],
    http_title: [title],
  };
  return { protocol: 'tcp', port: portNo, state: 'open', hsh256: `h${portNo}-${title}`, fpVersion: 1, fields, doc: { title } };
}

describe.each(storeKinds)('report and explain give one host score (%s)', (kind) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(kind);
  });
  afterAll(async () => {
    await t?.cleanup();
  });
  /** The shipped score weights, ingest with the stored rules and scores, and a scan time some days ago. */
  async function judging() {
    const cfg = await loadScoreConfig(DEFAULT_SCORE_FILE);
    const deps = createRuleIngestDeps(t.store, { set: await loadStoredRuleSet(t.store), score: cfg });
    const now = Date.now();
    const at = (daysAgo: number) => new Date(now - daysAgo * 86_400_000).toISOString();
    return { cfg, deps, at };
  }

  it('a port changed yesterday counts the same in both', async () => {
    const { cfg, deps, at } = await judging();
    const ip = '127.0.0.31';
    await ingestScanResult(t.store, { source: 'test', scan: scan([host(ip, at(40), [svc(8080, 'Jenkins'), svc(22, 'ssh')])], '22,8080') }, deps);
    await ingestScanResult(t.store, { source: 'test', scan: scan([host(ip, at(1), [svc(8080, 'Jenkins 2'), svc(22, 'ssh')])], '22,8080') }, deps);

    const explained = await explainHost(t.store, ip, cfg);
    expect(explained.features.find((f) => f.name === 'recently_changed')!.contribution).toBeGreaterThan(0);

    const { model } = await generateReport(t.store, { query: `ip:${ip}`, since: '30d', scoreConfig: cfg });
    expect(model.hosts.map((h) => h.ip)).toEqual([ip]);
    expect(model.hosts[0]!.score).toBe(explained.score);
  });

  it('a change seen by one view still counts after another view sighted the port (web change, then banner)', async () => {
    const { cfg, deps, at } = await judging();
    const ip = '127.0.0.32';
    const ingest = (daysAgo: number, view: string, port: IngestPort) =>
      ingestScanResult(t.store, { source: view, view, scan: scan([host(ip, at(daysAgo), [port])], '8080') }, deps);
    expect(await ingest(40, 'web', svc(8080, 'Jenkins'))).toMatchObject({ appeared: 1 });
    expect(await ingest(2, 'web', svc(8080, 'Jenkins 2'))).toMatchObject({ changed: 1 });
    const recently = (e: { features: { name: string; contribution: number }[] }) => e.features.find((f) => f.name === 'recently_changed')!.contribution;
    const afterChange = await explainHost(t.store, ip, cfg);
    expect(recently(afterChange)).toBeGreaterThan(0);

    // The banner profile sees the same port with its own document: a sighting (no event) that makes its row current.
    const banner = { ...svc(8080, 'Jenkins 2'), hsh256: 'banner-8080' };
    expect(await ingest(1, 'banner', banner)).toMatchObject({ changed: 0, appeared: 0, stable: 1 });
    const [current] = await t.store.query<{ view: string }>('select view from port_observations where host(ip) = $1 and current', [ip]);
    expect(current!.view).toBe('banner');

    // Every reader still sees the web change: explain, the stored score (ingest's rescoring), a report, the host page.
    const explained = await explainHost(t.store, ip, cfg);
    expect(recently(explained)).toBeGreaterThan(0);
    expect(explained.score).toBe(afterChange.score);
    expect((await getHostScore(t.store, ip))?.score).toBe(explained.score);
    const { model } = await generateReport(t.store, { query: `ip:${ip}`, since: '30d', scoreConfig: cfg });
    expect(model.hosts[0]!.score).toBe(explained.score);
    const page = await hostDetail({ store: t.store, config: t.config }, ip, { events: 1 });
    expect(recently(page.score)).toBeGreaterThan(0);
    expect(page.score.score).toBe(explained.score);
  });
});
