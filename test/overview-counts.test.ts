import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SCORE_FILE, loadScoreConfig } from '../core/score.ts';
import { ingestScanResult } from '../store/ingest.ts';
import { loadOverview } from '../store/repos/overview.ts';
import { pendingRescoreIps } from '../store/repos/pending-rescores.ts';
import { createRuleIngestDeps, loadStoredRuleSet } from '../store/rules/index.ts';
import { host, port, scan } from './helpers/scan.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';

/** What the overview's figures must equal: a direct count over the port documents. */
async function directCounts(t: TestStore): Promise<{ hosts: number; ports: number }> {
  const [r] = await t.store.query<{ hosts: number; ports: number }>(
    "select count(distinct ip)::int as hosts, count(*)::int as ports from port_observations where current and state = 'open'",
  );
  return r!;
}

async function overviewCounts(t: TestStore): Promise<{ hosts: number; ports: number }> {
  const o = await loadOverview(t.store);
  return { hosts: o.openHosts, ports: o.openPorts };
}

describe.each(storeKinds)('overview counts agree with a direct count (%s)', (kind) => {
  let t: TestStore;
  let deps: ReturnType<typeof createRuleIngestDeps>;
  beforeAll(async () => {
    t = await openTestStore(kind);
    deps = createRuleIngestDeps(t.store, { set: await loadStoredRuleSet(t.store), score: await loadScoreConfig(DEFAULT_SCORE_FILE) });
  }, 120_000);
  afterAll(async () => {
    await t?.cleanup();
  });

  it('an empty store has no open host and no open port', async () => {
    expect(await overviewCounts(t)).toEqual({ hosts: 0, ports: 0 });
  });

  it('after ingests that open, close and lose ports', async () => {
    await ingestScanResult(
      t.store,
      {
        source: 'test',
        scan: scan([
          host('127.0.80.1', '2026-03-01T00:00:00Z', [port(22, 'ssh a'), port(80, 'http a'), port(443, 'tls a')]),
          host('127.0.80.2', '2026-03-01T00:00:00Z', [port(22, 'ssh b'), port(80, 'http b', { state: 'closed' })]),
          host('127.0.80.3', '2026-03-01T00:00:00Z', [port(443, 'tls c')]),
        ]),
      },
      deps,
    );
    expect(await directCounts(t)).toEqual({ hosts: 3, ports: 5 });
    expect(await overviewCounts(t)).toEqual(await directCounts(t));
    // A later scan: .1 loses 443 and changes 80, .3 has no open port left, .4 appears.
    await ingestScanResult(
      t.store,
      {
        source: 'test',
        scan: scan([
          host('127.0.80.1', '2026-03-02T00:00:00Z', [port(22, 'ssh a'), port(80, 'http a2')]),
          host('127.0.80.3', '2026-03-02T00:00:00Z', []),
          host('127.0.80.4', '2026-03-02T00:00:00Z', [port(80, 'http d')]),
        ]),
      },
      deps,
    );
    const direct = await directCounts(t);
    expect(direct.hosts).toBeLessThan(4);
    expect(await overviewCounts(t)).toEqual(direct);
  });

  it('bands, top tags and top services are those of the direct queries', async () => {
    const o = await loadOverview(t.store);
    expect(o.bands.length).toBeGreaterThan(0);
    expect(o.bands).toEqual(
      await t.store.query('select band, count(*)::int as hosts from host_scores where open_ports > 0 group by band order by min(score) desc'),
    );
    const open = "(select tags, fields from port_observations where current and state = 'open' order by id desc limit 20000) p";
    expect(o.topTags).toEqual(
      await t.store.query(`select t as tag, count(*)::int as ports from ${open}, unnest(p.tags) as t group by t order by count(*) desc, t limit 10`),
    );
    expect(o.topServices.length).toBeGreaterThan(0);
    expect(o.topServices).toEqual(
      await t.store.query(
        `select coalesce(p.fields->'service_name'->>0, '(unknown)') as service, count(*)::int as ports from ${open} group by 1 order by count(*) desc, 1 limit 10`,
      ),
    );
  });

  it('while hosts are still owed their rescoring (a process killed between commit and rescore)', async () => {
    // The batch commits with its hosts queued, but the rescoring after the commit never runs.
    const killed = { ...deps, afterCommit: async () => undefined };
    await ingestScanResult(
      t.store,
      {
        source: 'test',
        scan: scan([
          host('127.0.80.1', '2026-03-03T00:00:00Z', [port(22, 'ssh a')]),
          host('127.0.80.5', '2026-03-03T00:00:00Z', [port(22, 'ssh e'), port(443, 'tls e')]),
        ]),
      },
      killed,
    );
    expect(await pendingRescoreIps(t.store)).toEqual(['127.0.80.1', '127.0.80.5']);
    expect(await overviewCounts(t)).toEqual(await directCounts(t));
  });
});
