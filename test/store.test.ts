import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasPrefix, newId } from '../core/ids.ts';
import { runs } from '../store/schema/index.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';

describe.each(storeKinds)('store on %s', (kind) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(kind);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('applies every migration, pg_trgm included', async () => {
    const tables = await t.store.query<{ table_name: string }>(
      "select table_name from information_schema.tables where table_schema = 'public' order by table_name",
    );
    expect(tables.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(['jobs', 'observation_events', 'port_observations', 'raw_results', 'rules', 'runs', 'scan_profiles', 'targets']),
    );
    const ext = await t.store.query<{ extname: string }>("select extname from pg_extension where extname = 'pg_trgm'");
    expect(ext).toHaveLength(1);
    const sim = await t.store.query<{ s: number }>("select similarity('nginx', 'nginx/1.18') as s");
    expect(sim[0]!.s).toBeGreaterThan(0.3);
  });

  it('returns rows of the same shape on both drivers', async () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    const rows = await t.store.query<Record<string, unknown>>(
      "select $1::timestamptz as at, 42::int8 as big, 7::int as small, '10.0.0.1'::inet as ip, '{a,b}'::text[] as arr, '{\"k\":[1]}'::jsonb as doc, 'AQI='::text as txt, decode('0102', 'hex') as bin, null::text as nothing",
      [at.toISOString()],
    );
    expect(rows).toEqual([
      {
        at,
        big: 42,
        small: 7,
        ip: '10.0.0.1',
        arr: ['a', 'b'],
        doc: { k: [1] },
        txt: 'AQI=',
        bin: Buffer.from([1, 2]),
        nothing: null,
      },
    ]);
    const counted = await t.store.query<{ n: number }>('select count(*) as n from generate_series(1, 3)');
    expect(counted).toEqual([{ n: 3 }]);
  });

  it("runs prepared statements (the ingest's) with the same rows, prepared on a server only", async () => {
    const text =
      'select $1::timestamptz as at, $2::int8 as big, $3::text[] as arr, $4::jsonb as doc, $5::text::jsonb as raw, null::text as nothing /* plum-prepared-test */';
    const at = new Date('2026-01-02T03:04:05.678Z');
    const params = [at.toISOString(), 42, ['a', 'b"c'], JSON.stringify({ k: [1] }), JSON.stringify({ k: 2 })];
    const expected = [{ at, big: 42, arr: ['a', 'b"c'], doc: { k: [1] }, raw: { k: 2 }, nothing: null }];
    expect(await t.store.query(text, params)).toEqual(expected);
    const prepared = await t.store.transaction(async (tx) => {
      // Twice on the same connection: the second run uses the statement the first one prepared.
      const first = await tx.query(text, params, { prepare: true });
      const second = await tx.query(text, params, { prepare: true });
      const statements = await tx.query<{ n: number }>(
        "select count(*) as n from pg_prepared_statements where statement like '%plum-prepared-test%' and statement not like '%pg_prepared_statements%'",
      );
      return { first, second, n: statements[0]!.n };
    });
    expect(prepared.first).toEqual(expected);
    expect(prepared.second).toEqual(expected);
    expect(prepared.n).toBe(kind === 'postgres' ? 1 : 0);
  });

  it('types drizzle queries and rolls back a failed transaction', async () => {
    const id = newId('run');
    expect(hasPrefix(id, 'run')).toBe(true);
    await expect(
      t.store.transaction(async (tx) => {
        await tx.db.insert(runs).values({ id, kind: 'import' });
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await t.store.db.select().from(runs)).toHaveLength(0);
    await t.store.transaction(async (tx) => {
      await tx.db.insert(runs).values({ id, kind: 'import', counters: { hosts: 2 } });
      const inTx = await tx.query<{ id: string }>('select id from runs where id = $1', [id]);
      expect(inTx).toEqual([{ id }]);
    });
    const [row] = await t.store.db.select().from(runs);
    expect(row!.id).toBe(id);
    expect(row!.createdAt).toBeInstanceOf(Date);
    expect(row!.counters).toEqual({ hosts: 2 });
  });
});
