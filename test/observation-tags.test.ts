import { sql, type SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestScanResult } from '../store/ingest.ts';
import { writeJudgements } from '../store/repos/judgements.ts';
import { searchPorts } from '../store/search/index.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';
import { host, port, scan } from './helpers/scan.ts';

/**
 * observation_tags and observation_scores (migrations 0031, 0032) hold the tag and score indexes that search
 * uses; triggers on port_observations keep them in step with every writer on both drivers, except the bulk
 * writers (rules apply, ingest), which write both copies themselves (migrations 0040, 0042).
 */
describe.each(storeKinds)('observation_tags on %s', (kind) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(kind);
  });
  afterAll(() => t.cleanup());

  const copies = async () =>
    Object.fromEntries(
      (
        await t.store.query<{ port: number; tags: string[] }>(
          `select po.port, ot.tags from observation_tags ot join port_observations po using (id) order by po.port`,
        )
      ).map((r) => [r.port, r.tags]),
    );
  const tagSearch = async (q: string) => (await searchPorts(t.store, q, { limit: 50 })).hosts.flatMap((h) => h.ports.map((p) => p.port)).sort((a, b) => a - b);

  it('copies the tags of tagged documents when ingest inserts them, and none for untagged ones', async () => {
    const tagPort = (p: { port: number }) => (p.port === 22 ? { tags: ['svc:ssh', 'exposure:remote-access'], rules: ['ssh'] } : { tags: [], rules: [] });
    await ingestScanResult(
      t.store,
      { scan: scan([host('127.4.0.1', '2026-01-01T00:00:00Z', [port(22, 'ssh'), port(80, 'web'), port(443, 'tls')])]), source: 'tags' },
      { tagPort },
    );
    expect(await copies()).toEqual({ 22: ['svc:ssh', 'exposure:remote-access'] });
    expect(await tagSearch('tag:svc:ssh')).toEqual([22]);
    expect(await tagSearch('tag.bg:exposure:')).toEqual([22]);
  });

  it('follows updates of tags: changed, added, emptied', async () => {
    await t.store.query(`update port_observations set tags = array['svc:ssh'] where port = 22`);
    await t.store.query(`update port_observations set tags = array['svc:web', 'vendor:nginx'] where port = 80`);
    expect(await copies()).toEqual({ 22: ['svc:ssh'], 80: ['svc:web', 'vendor:nginx'] });
    expect(await tagSearch('tag.bg:exposure:')).toEqual([]);
    expect(await tagSearch('tag.lk:nginx')).toEqual([80]);
    expect(await tagSearch('tag:svc:ssh or tag:svc:web')).toEqual([22, 80]);
    expect(await tagSearch('not tag:svc:ssh')).toEqual([80, 443]);
    await t.store.query(`update port_observations set tags = '{}' where port = 22`);
    // An update of other columns leaves the copy alone.
    await t.store.query(`update port_observations set score = 7 where port = 80`);
    expect(await copies()).toEqual({ 80: ['svc:web', 'vendor:nginx'] });
    expect(await tagSearch('tag:svc:ssh')).toEqual([]);
  });

  it('keeps a copy of every score, which search sorts and filters by', async () => {
    const scores = async () =>
      (
        await t.store.query<{ port: number; score: number }>(
          `select po.port, os.score from observation_scores os join port_observations po using (id) order by po.port`,
        )
      ).map((r) => [r.port, r.score]);
    expect(await scores()).toEqual([
      [22, 0],
      [80, 7],
      [443, 0],
    ]);
    await t.store.query(`update port_observations set score = 40 where port = 443`);
    await t.store.query(`update port_observations set tags = array['x:y'] where port = 443`);
    expect(await scores()).toEqual([
      [22, 0],
      [80, 7],
      [443, 40],
    ]);
    await ingestScanResult(t.store, { scan: scan([host('127.4.0.2', '2026-01-01T00:00:00Z', [port(22, 'other ssh')])]), source: 'scores' });
    const byScore = async () => (await searchPorts(t.store, 'port:22,80,443', { sort: 'score', limit: 50 })).hosts.map((h) => h.ip);
    await t.store.query(`update port_observations set score = 20 where ip = '127.4.0.2'`);
    expect(await byScore()).toEqual(['127.4.0.1', '127.4.0.2']);
    await t.store.query(`update port_observations set score = 50 where ip = '127.4.0.2'`);
    expect(await byScore()).toEqual(['127.4.0.2', '127.4.0.1']);
    expect(await tagSearch('score>=7')).toEqual([22, 80, 443]);
    expect(await tagSearch('score>=7 and score<50')).toEqual([80, 443]);
    expect(await tagSearch('not score>0')).toEqual([22]);
  });

  it("carries each document's address and port, so a sort by score reads its index in paging order, ties included", async () => {
    const mismatched = await t.store.query(
      `select os.id from observation_scores os join port_observations po using (id) where os.ip is distinct from po.ip or os.port is distinct from po.port`,
    );
    expect(mismatched).toEqual([]);
    // Capture the walk search runs for a sort by score, then ask the planner how it would run it.
    const walks: SQL[] = [];
    const recording = new Proxy(t.store, {
      get: (target, key, receiver) =>
        key === 'query'
          ? (q: SQL | string, ...rest: unknown[]) => {
              if (typeof q !== 'string' && /order by po_sc\.score desc/.test(new PgDialect().sqlToQuery(q).sql)) walks.push(q);
              return (target.query as (...a: unknown[]) => unknown)(q, ...rest);
            }
          : Reflect.get(target, key, receiver),
    });
    await searchPorts(recording, 'port:22,443', { sort: 'score', limit: 1 });
    expect(walks.length).toBeGreaterThan(0);
    const plan = await t.store.transaction(async (tx) => {
      // Tiny tables: without these the planner would scan and sort whatever the indexes offer.
      await tx.query('set local enable_seqscan = off');
      await tx.query('set local enable_sort = off');
      const rows = await tx.query<Record<string, string>>(sql`explain ${walks[0]!}`);
      return rows.map((r) => Object.values(r)[0]).join('\n');
    });
    expect(plan).toContain('observation_scores_order_idx');
    expect(plan).not.toMatch(/\bSort\b/);
  });

  it('stays in step when a bulk writer rewrites many judgements at once, and the triggers resume after it', async () => {
    const ids = Object.fromEntries(
      (await t.store.query<{ key: string; id: string }>(`select host(ip) || ':' || port as key, id from port_observations`)).map((r) => [r.key, r.id]),
    );
    const judgement = (id: string, tags: string[], score: number) => ({
      id,
      tags,
      rules: tags.length ? ['r'] : [],
      score,
      score_features: null,
      score_timed: false,
    });
    await t.store.transaction(async (tx) => {
      await writeJudgements(tx, [
        judgement(ids['127.4.0.1:443']!, ['svc:tls', 'vendor:acme'], 12), // changed tags and score
        judgement(ids['127.4.0.1:22']!, ['svc:ssh'], 0), // tagged again
        judgement(ids['127.4.0.2:22']!, [], 3), // never tagged: stays without a copy
      ]);
      // Another write in the same transaction is kept in step by the triggers again.
      await tx.query(`update port_observations set tags = array['svc:other'], score = 9 where id = $1`, [ids['127.4.0.1:80']]);
    });
    const apart = await t.store.query(
      `select po.port from port_observations po left join observation_tags ot using (id) join observation_scores os using (id)
       where coalesce(ot.tags, '{}') is distinct from po.tags or os.score is distinct from po.score`,
    );
    expect(apart).toEqual([]);
    expect(await copies()).toEqual({ 22: ['svc:ssh'], 80: ['svc:other'], 443: ['svc:tls', 'vendor:acme'] });
    expect(await tagSearch('tag:vendor:acme score>=12')).toEqual([443]);
    await t.store.transaction((tx) => writeJudgements(tx, [judgement(ids['127.4.0.1:443']!, [], 1)]));
    expect(await copies()).toEqual({ 22: ['svc:ssh'], 80: ['svc:other'] });
    expect(await tagSearch('score>=12')).toEqual([]);
  });

  it('goes with its document', async () => {
    await t.store.query(`delete from observation_sightings where id in (select id from port_observations where port = 80)`);
    await t.store.query(`delete from observation_events where observation_id in (select id from port_observations where port = 80)`);
    await t.store.query(`delete from port_observations where port = 80`);
    expect(await t.store.query(`select tags from observation_tags order by tags`)).toEqual([{ tags: ['svc:ssh'] }]);
    expect((await t.store.query<{ n: number }>(`select count(*)::int as n from observation_scores`))[0]!.n).toBe(3);
  });
  it('is written by ingest itself, for new documents and for stored ones it judges again', async () => {
    const apart = () =>
      t.store.query(
        `select po.port from port_observations po left join observation_tags ot using (id) left join observation_scores os using (id)
         where po.ip = '127.4.0.3' and (coalesce(ot.tags, '{}') is distinct from po.tags or os.score is distinct from po.score
           or os.ip is distinct from po.ip or os.port is distinct from po.port)`,
      );
    const judged = (tags: Record<number, string[]>, scores: Record<number, number>) => ({
      tagPort: (p: { port: number }) => ({ tags: tags[p.port] ?? [], rules: tags[p.port]?.length ? ['r'] : [] }),
      scorePort: (p: { port: number }) => ({ score: scores[p.port] ?? 0, features: {} }),
    });
    const ingest = (at: string, web: string, deps: ReturnType<typeof judged>) =>
      ingestScanResult(t.store, { scan: scan([host('127.4.0.3', at, [port(22, 'ssh'), port(80, web)])]), source: 'copies' }, deps);
    await ingest('2026-01-01T00:00:00Z', 'web', judged({ 22: ['svc:ssh'] }, { 22: 5, 80: 1 }));
    expect(await apart()).toEqual([]);
    expect(await tagSearch('ip:127.4.0.3 tag:svc:ssh score>=5')).toEqual([22]);
    // Port 22 is judged again (tags emptied, score moved); port 80 changes: a new document beside the old one.
    await ingest('2026-01-02T00:00:00Z', 'other web', judged({ 80: ['svc:web'] }, { 22: 2, 80: 9 }));
    expect(await apart()).toEqual([]);
    expect(await tagSearch('ip:127.4.0.3 tag:svc:ssh')).toEqual([]);
    expect(await tagSearch('ip:127.4.0.3 tag:svc:web score>=9')).toEqual([80]);
  });
});
