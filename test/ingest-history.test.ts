import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestScanResult } from '../store/ingest.ts';
import { host, port, scan } from './helpers/scan.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';

/*
 * The history of one slot through the store (core/history/decide.ts decides):
 * a port that goes away and comes back with another fingerprint is
 * `reappeared`, then `changed` (it was recorded as `appeared`, as if new).
 */
describe.each(storeKinds)('slot history through ingest (%s)', (kind) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(kind);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  it('gone, then back with a different fingerprint: reappeared and changed', async () => {
    const ip = '127.0.0.41';
    const at = (day: number) => `2026-11-${String(day).padStart(2, '0')}T00:00:00Z`;
    const ingest = (day: number, ports: ReturnType<typeof port>[]) =>
      ingestScanResult(t.store, { source: 'test', scan: scan([host(ip, at(day), ports)], '80'), scope: { targets: [ip], tcpPorts: '80' } });
    const first = await ingest(1, [port(80, 'nginx 1.22')]);
    expect(first.appeared).toBe(1);
    const gone = await ingest(2, []);
    expect(gone.gone).toBe(1);
    const back = await ingest(3, [port(80, 'nginx 1.24')]);
    expect({ appeared: back.appeared, reappeared: back.reappeared, changed: back.changed }).toEqual({ appeared: 0, reappeared: 1, changed: 1 });
    const events = await t.store.query<{ type: string; at: Date; previous_hsh256: string | null; hsh256: string }>(
      `select type, at, previous_hsh256, hsh256 from observation_events where ip = $1 order by at, created_at, type desc`,
      [ip],
    );
    expect(events.map((e) => `${e.at.toISOString().slice(0, 10)} ${e.type}`)).toEqual([
      '2026-11-01 appeared',
      '2026-11-02 gone',
      '2026-11-03 reappeared',
      '2026-11-03 changed',
    ]);
    const changed = events.at(-1)!;
    expect(changed.previous_hsh256).toBe(events[0]!.hsh256);
    expect(changed.hsh256).not.toBe(events[0]!.hsh256);
  });
});
