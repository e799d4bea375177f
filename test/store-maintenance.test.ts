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

  const reltuples = async (table: string) =>
    Number((await t.store.query<{ n: number }>(`select reltuples::float8 as n from pg_class where oid = $1::regclass`, [table]))[0]!.n);
  const serverMaintains = async () => kind === 'postgres' && (await t.store.query<{ on: boolean }>(`select current_setting('autovacuum') = 'on' as on`))[0]!.on;
  const state = async () =>
    Object.fromEntries(
      (
        await t.store.query<{ table_name: string; pending: number; ran: Date | null }>(
          `select table_name, pending_rows as pending, last_run_at as ran from table_maintenance`,
        )
      ).map((r) => [r.table_name, r]),
    );
  // 6,000 observations in 12 hosts × 500 ports.
  const hosts = (at: string) =>
    Array.from({ length: 12 }, (_, h) =>
      host(
        `127.3.0.${h + 1}`,
        at,
        Array.from({ length: 500 }, (_, p) => port(1000 + p, `svc ${h}/${p}`)),
      ),
    );

  it('maintains each observation table once its share of it was written, across calls, and only that table', async () => {
    expect(await reltuples('observation_sightings')).toBe(-1); // never analysed
    // First import: every table gets 6,000 rows, reported batch by batch, and each is maintained while it runs.
    await ingestScanResult(t.store, { scan: scan(hosts('2026-01-01T00:00:00Z'), '1000-1499'), source: 'maintenance' }, { batchHosts: 2 });
    if (await serverMaintains()) {
      expect(await state()).toEqual({});
      return;
    }
    const first = await state();
    for (const table of ['observation_sightings', 'port_observations', 'observation_events']) {
      expect(first[table]?.ran, table).toBeInstanceOf(Date);
      expect(await reltuples(table), table).toBeGreaterThanOrEqual(5_000);
    }
    // A stable pass rewrites every sighting and nothing else: only observation_sightings is maintained.
    await ingestScanResult(t.store, { scan: scan(hosts('2026-01-02T00:00:00Z'), '1000-1499'), source: 'maintenance' }, { batchHosts: 2 });
    const stable = await state();
    expect(stable.observation_sightings!.ran!.getTime()).toBeGreaterThan(first.observation_sightings!.ran!.getTime());
    expect(stable.port_observations).toEqual(first.port_observations);
    expect(stable.observation_events).toEqual(first.observation_events);
    // Below the threshold nothing runs; the count carries over to the next writer, per table.
    expect(await noteObservationWrites(t.store, { observation_events: 100 })).toEqual([]);
    expect((await state()).observation_events!.pending).toBe(first.observation_events!.pending + 100);
    expect(await noteObservationWrites(t.store, { observation_events: 5_000, port_observations: 1 })).toEqual(['observation_events']);
    const after = await state();
    expect(after.observation_events!.pending).toBe(0);
    expect(after.port_observations!.pending).toBe(first.port_observations!.pending + 1);
    expect(await noteObservationWrites(t.store, {})).toEqual([]);
  });

  it('runs beside the batches: a maintenance failure stops the ingest at its end, with every batch committed', async () => {
    if (await serverMaintains()) return;
    // A real failure: the bookkeeping table is gone while the ingest runs.
    await t.store.query('alter table table_maintenance rename to table_maintenance_away');
    try {
      const moved = Array.from({ length: 12 }, (_, h) =>
        host(
          `127.3.1.${h + 1}`,
          '2026-01-01T00:00:00Z',
          Array.from({ length: 500 }, (_, p) => port(1000 + p, `other ${h}/${p}`)),
        ),
      );
      await expect(ingestScanResult(t.store, { scan: scan(moved, '1000-1499'), source: 'maintenance failure' }, { batchHosts: 2 })).rejects.toThrow(
        /table_maintenance/,
      );
      const [n] = await t.store.query<{ n: number }>(`select count(*)::int as n from port_observations where ip << '127.3.1.0/24'`);
      expect(n!.n).toBe(6_000);
    } finally {
      await t.store.query('alter table table_maintenance_away rename to table_maintenance');
    }
  });
});
