import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateReport } from '../activities/report.ts';
import { emptySearchFields, type SearchFields } from '../core/fields.ts';
import { DEFAULT_SCORE_FILE, loadScoreConfig } from '../core/score.ts';
import { ingestScanResult, type IngestPort } from '../store/ingest.ts';
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

  it('a port changed yesterday counts the same in both', async () => {
    const cfg = await loadScoreConfig(DEFAULT_SCORE_FILE);
    const deps = createRuleIngestDeps(t.store, { set: await loadStoredRuleSet(t.store), score: cfg });
    const day = 86_400_000;
    const now = Date.now();
    const at = (daysAgo: number) => new Date(now - daysAgo * day).toISOString();
    const ip = '127.0.0.31';
    await ingestScanResult(t.store, { source: 'test', scan: scan([host(ip, at(40), [svc(8080, 'Jenkins'), svc(22, 'ssh')])], '22,8080') }, deps);
    await ingestScanResult(t.store, { source: 'test', scan: scan([host(ip, at(1), [svc(8080, 'Jenkins 2'), svc(22, 'ssh')])], '22,8080') }, deps);

    const explained = await explainHost(t.store, ip, cfg);
    expect(explained.features.find((f) => f.name === 'recently_changed')!.contribution).toBeGreaterThan(0);

    const { model } = await generateReport(t.store, { query: `ip:${ip}`, since: '30d', scoreConfig: cfg });
    expect(model.hosts.map((h) => h.ip)).toEqual([ip]);
    expect(model.hosts[0]!.score).toBe(explained.score);
  });
});
