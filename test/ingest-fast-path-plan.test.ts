import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestScanResult } from '../store/ingest.ts';
import { stableFastPathSql } from '../store/ingest-read.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';
import { host, port, scan } from './helpers/scan.ts';

/**
 * The stable fast path joins a batch's open ports to its hosts' current rows on the slot. Planned with the batch's
 * own values (a custom plan: what each connection runs first), a nested loop there compares every current row with
 * every port of the batch. The planner chose one when its estimate of the current rows fell to one row; this keeps
 * the join a hash join in the plan both drivers make. The batch has 2,000 hosts: with fewer, the current rows'
 * estimate stays too small for the nested loop to be chosen even by the statement that had it.
 */
describe.each(storeKinds)('the stable fast path plan on %s', (kind) => {
  let t: TestStore;
  const hosts = Array.from({ length: 2000 }, (_, i) => `127.6.${i >> 8}.${i & 255}`);
  const ports = [22, 80, 443, 8080];
  const at = '2026-02-01T00:00:00Z';

  beforeAll(async () => {
    t = await openTestStore(kind);
    await ingestScanResult(t.store, {
      scan: scan(
        hosts.map((ip) =>
          host(
            ip,
            at,
            ports.map((p) => port(p, `svc ${p}`)),
          ),
        ),
      ),
      source: 'plan',
    });
    await t.store.query('analyze');
  });
  afterAll(() => t.cleanup());

  it('joins the batch to the current rows by hash, with or without rules', async () => {
    const [{ view } = { view: '' }] = await t.store.query<{ view: string }>('select view from port_observations limit 1');
    const input = hosts.flatMap((ip, h) =>
      ports.map((p, k) => ({
        i: h * ports.length + k,
        ip,
        protocol: 'tcp',
        port: p,
        hsh256: port(p, `svc ${p}`).hsh256,
        t: '2026-02-02T00:00:00Z',
        hostnames: [],
        tags: [],
        rules: [],
        score: null,
      })),
    );
    for (const judging of [false, true]) {
      const plan = (
        await t.store.query<{ 'QUERY PLAN': string }>(`explain ${stableFastPathSql(judging)}`, [JSON.stringify(input), hosts, 'job_plan', 'run_plan', view])
      )
        .map((r) => r['QUERY PLAN'])
        .join('\n');
      // The join of the current rows (c) with the batch's ports (x): a hash join on the slot, never a nested loop.
      expect(plan).toMatch(/Hash Join[\s\S]*Hash Cond: \(\(c_?\d*\.ip = host\(x\.ip\)\)/);
      expect(plan).not.toMatch(/Nested Loop[^\n]*\n[^\n]*Join Filter:[^\n]*host\(x\.ip\)/);
    }
  });
});
