import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestScanResult } from '../store/ingest.ts';
import { noteObservationWrites } from '../store/maintenance.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';
import { host, port, scan } from './helpers/scan.ts';

/** PGlite never autovacuums; a server may not (the project's CI server runs with autovacuum off). */
describe.each(storeKinds)('table maintenance on %s', (kind) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(kind);
  });
  afterAll(() => t.cleanup());

  const reltuples = async () => Number((await t.store.query<{ n: number }>(
    `select reltuples::float8 as n from pg_class where oid = 'observation_sightings'::regclass`))[0]!.n);
  const serverMaintains = async () => kind === 'postgres'
    && (await t.store.query<{ on: boolean }>(`select current_setting('autovacuum') = 'on' as on`))[0]!.on;

  it('analyses and vacuums the observation tables once enough rows were written, across calls', async () => {
    // 6,000 sightings in 12 hosts × 500 ports: ingest reports them batch by batch and the maintenance runs.
    const hosts = Array.from({ length: 12 }, (_, h) => host(`127.3.0.${h + 1}`, '2026-01-01T00:00:00Z',
      Array.from({ length: 500 }, (_, p) => port(1000 + p, `svc ${h}/${p}`))));
    expect(await reltuples()).toBe(-1); // never analysed
    await ingestScanResult(t.store, { scan: scan(hosts, '1000-1499'), source: 'maintenance' }, { batchHosts: 2 });
    const [state] = await t.store.query<{ pending: number; ran: Date | null }>(
      `select pending_rows as pending, last_run_at as ran from table_maintenance where table_name = 'observations'`);
    if (await serverMaintains()) {
      expect(state).toBeUndefined();
      return;
    }
    expect(state!.ran).toBeInstanceOf(Date);
    expect(await reltuples()).toBeGreaterThanOrEqual(5_000);
    // Below the threshold nothing runs; the count carries over to the next writer.
    expect(await noteObservationWrites(t.store, 100)).toBe(false);
    const [after] = await t.store.query<{ pending: number }>(`select pending_rows as pending from table_maintenance`);
    expect(after!.pending).toBe(state!.pending + 100);
    expect(await noteObservationWrites(t.store, 5_000)).toBe(true);
    const [reset] = await t.store.query<{ pending: number }>(`select pending_rows as pending from table_maintenance`);
    expect(reset!.pending).toBe(0);
  });
});
