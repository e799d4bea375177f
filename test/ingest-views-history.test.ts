import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { viewOfJob } from '../core/history/view.ts';
import { BANNER_PROFILE, WEB_PROFILE, type ScanProfile } from '../core/profiles.ts';
import { ingestScanResult, type IngestPort } from '../store/ingest.ts';
import { host, port, scan, titledPort } from './helpers/scan.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';

/*
 * A port's state (open, gone) belongs to its slot, whatever view saw it; fingerprints are compared within a view
 * (core/history/decide.ts). A port that went away while one view looked and comes back in another view is
 * therefore back, not new and not changed: the other view never saw it, so there is nothing to compare with.
 * The views come from nmap's command line in each result (`<nmaprun args>`), as for an imported scan.
 */
describe.each(storeKinds)('a port gone in one view and back in another (%s)', (kind) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(kind);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const ip = '127.0.0.42';
  const at = (day: number) => `2026-11-${String(day).padStart(2, '0')}T00:00:00Z`;
  /** nmap's command line for a profile's job, as an imported XML's `args` carries it. */
  const command = (p: ScanProfile) => ['nmap', '-sT', '-p', '80', '--script', p.scripts.join(','), ...p.nmapArgs, '-oX', '-', ip].join(' ');
  const ingest = (p: ScanProfile, day: number, ports: IngestPort[]) => {
    const s = scan([host(ip, at(day), ports)], '80');
    return ingestScanResult(t.store, {
      source: `${p.name} day ${day}`,
      scan: { ...s, run: { ...s.run, args: command(p) } },
      scope: { targets: [ip], tcpPorts: '80' },
    });
  };
  const counts = ({ appeared, changed, gone, reappeared }: { appeared: number; changed: number; gone: number; reappeared: number }) => ({
    appeared,
    changed,
    gone,
    reappeared,
  });
  /** Each event of the slot with the view of the observation it points at, oldest first. */
  const events = async () =>
    (
      await t.store.query<{ type: string; at: Date; view: string }>(
        `select e.type, e.at, o.view from observation_events e join port_observations o on o.id = e.observation_id
         where e.ip = $1 order by e.at, e.created_at`,
        [ip],
      )
    ).map((e) => `${e.at.toISOString().slice(0, 10)} ${e.type} ${e.view}`);

  it('gone while the banner view looked, back in the web view: one reappeared; the banner view again: nothing', async () => {
    const bannerView = viewOfJob(BANNER_PROFILE.scripts, BANNER_PROFILE.nmapArgs);
    const webView = viewOfJob(WEB_PROFILE.scripts, WEB_PROFILE.nmapArgs);
    expect(bannerView).not.toBe(webView);
    // Each view fingerprints the service its own way: the banner view its banner, the web view its title.
    const banner = port(80, 'HTTP/1.1 200 OK\r\nServer: nginx');
    const web = titledPort(ip, 80, 'Welcome');
    expect(banner.hsh256).not.toBe(web.hsh256);

    expect(counts(await ingest(BANNER_PROFILE, 1, [banner]))).toEqual({ appeared: 1, changed: 0, gone: 0, reappeared: 0 });
    // The host answers (a reset on port 80): the port is closed now.
    expect(counts(await ingest(BANNER_PROFILE, 2, [port(80, '', { state: 'closed' })]))).toEqual({ appeared: 0, changed: 0, gone: 1, reappeared: 0 });
    expect(counts(await ingest(WEB_PROFILE, 3, [web]))).toEqual({ appeared: 0, changed: 0, gone: 0, reappeared: 1 });
    // The banner view sees the fingerprint it saw last: a sighting, no event.
    expect(counts(await ingest(BANNER_PROFILE, 4, [banner]))).toEqual({ appeared: 0, changed: 0, gone: 0, reappeared: 0 });
    // And the web view again: nothing either.
    expect(counts(await ingest(WEB_PROFILE, 5, [web]))).toEqual({ appeared: 0, changed: 0, gone: 0, reappeared: 0 });

    expect(await events()).toEqual([`2026-11-01 appeared ${bannerView}`, `2026-11-02 gone ${bannerView}`, `2026-11-03 reappeared ${webView}`]);
    // One current row for the slot (the latest document, the web view's); each view keeps its head.
    const rows = await t.store.query<{ view: string; current: boolean; view_head: boolean }>(
      'select view, current, view_head from port_observations where ip = $1 order by current',
      [ip],
    );
    expect(rows).toEqual([
      { view: bannerView, current: false, view_head: true },
      { view: webView, current: true, view_head: true },
    ]);
  });
});
