import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestScanResult } from '../store/ingest.ts';
import { getProfile, saveProfile } from '../store/repos/profiles.ts';
import { firingsOfProfile } from '../store/repos/trigger-firings.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';
import { host, port, scan, titledPort } from './helpers/scan.ts';

/**
 * A trigger query over what only nmap finds (a page title) must fire on a service a two-stage run discovered:
 * masscan's bare port is the slot's `appeared` event, and nmap's document, in its own view, is a first sighting
 * in that view without an event. Both are new observations for the trigger profiles.
 */
describe.each(storeKinds)('trigger profiles and views (%s)', (kind) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(kind);
    await saveProfile(t.store, { name: 'listing', trigger: 'http_title.lk:"index of"', scripts: ['http-ls'] });
  });
  afterAll(() => t?.cleanup());

  const fired = async () => (await firingsOfProfile(t.store, (await getProfile(t.store, 'listing')).id)).map((f) => `${f.ip}:${f.port}`);
  const seen = (view: string, at: string, ports: Parameters<typeof host>[2]) =>
    ingestScanResult(t.store, { source: view, view, scan: scan([host('127.0.6.1', at, ports)], '80,8080') });

  it('fires on the nmap document of a port masscan found first, once', async () => {
    // The scouting stage: an open port, no title.
    const scouted = await seen('masscan', '2026-03-01T00:00:00Z', [port(80, '')]);
    expect(scouted.appeared).toBe(1);
    expect(await fired()).toEqual([]);
    // The nmap stage of the same run: the same port seen through another view, with its title.
    const scanned = await seen('nmap web', '2026-03-01T00:05:00Z', [titledPort('127.0.6.1', 80, 'Index of /backup')]);
    expect(scanned.changed + scanned.appeared).toBe(0);
    expect(await fired()).toEqual(['127.0.6.1:80']);
    // The next day's two stages see the same: nothing fires again.
    await seen('masscan', '2026-03-02T00:00:00Z', [port(80, '')]);
    await seen('nmap web', '2026-03-02T00:05:00Z', [titledPort('127.0.6.1', 80, 'Index of /backup')]);
    expect(await fired()).toEqual(['127.0.6.1:80']);
  });

  it('does not fire on a first sighting in a view whose document does not match', async () => {
    await seen('masscan', '2026-03-01T00:00:00Z', [port(8080, '')]);
    await seen('nmap web', '2026-03-01T00:05:00Z', [titledPort('127.0.6.1', 8080, 'Welcome')]);
    expect(await fired()).toEqual(['127.0.6.1:80']);
  });
});
