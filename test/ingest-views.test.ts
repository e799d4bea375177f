import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNmapRunner } from '../activities/nmap.ts';
import { viewOfJob } from '../core/history/view.ts';
import { parseNmapString } from '../core/nmap/parse.ts';
import { BANNER_PROFILE, WEB_PROFILE, type ScanProfile } from '../core/profiles.ts';
import { generateReport } from '../activities/report.ts';
import { eventJson as apiEventJson } from '../api/routes/history/schemas.ts';
import { eventJson as cliEventJson, eventRow, eventsCsv } from '../cli/commands/history.ts';
import { ingestScanResult, type IngestSummary } from '../store/ingest.ts';
import { listEvents } from '../store/repos/observations.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';
import { startPerimeter, type Perimeter } from '../demo/perimeter/index.ts';

// Two profiles with different scripts alternating over the same services of the loopback perimeter
// (127.0.0.0/8 only): each fingerprint is compared with the previous one of its own view.
describe.each(storeKinds)('observations per view on the live loopback perimeter on %s', (kind) => {
  let t: TestStore;
  let perimeter: Perimeter;
  const nmap = createNmapRunner({ killGraceMs: 500 });
  beforeAll(async () => {
    [t, perimeter] = await Promise.all([openTestStore(kind), startPerimeter({ title: 'Welcome' })]);
  });
  afterAll(async () => {
    await Promise.all([t?.cleanup(), perimeter?.close()]);
  });

  /**
   * Scans a web and an SSH service with a profile's scripts, as its jobs do, and imports the XML (the view from
   * nmap's args). One web service: a new title is one real change.
   */
  async function scanWith(profile: ScanProfile): Promise<IngestSummary> {
    const services = [perimeter.service('http'), perimeter.service('ssh')];
    const scope = { targets: services.map((s) => s.ip), tcpPorts: services.map((s) => s.port).join(',') };
    for (const ip of scope.targets) expect(ip.startsWith('127.')).toBe(true);
    const result = await nmap.runNmap({ ...scope, scripts: profile.scripts, extraArgs: profile.nmapArgs, hostTimeout: '30s' });
    expect(result.exitCode).toBe(0);
    return ingestScanResult(t.store, { scan: parseNmapString(result.xml.toString('utf8')), scope, source: profile.name, rawXml: result.xml });
  }
  const changedEvents = () =>
    t.store.query<{ port: number; view: string; previous_view: string }>(
      `select e.port, o.view, p.view as previous_view from observation_events e
       join port_observations o on o.id = e.observation_id join port_observations p on p.id = e.previous_observation_id
     where e.type = 'changed'`,
    );

  it('banner and web alternating: no change; a new title: one change, in the web view; the next banner run: none', async () => {
    const first = await scanWith(BANNER_PROFILE);
    expect(first).toMatchObject({ ports: 2, appeared: 2, changed: 0 });
    for (let round = 0; round < 5; round++) {
      // Every port of an alternating scan is a stable sighting: the summary accounts for each one.
      if (round > 0) expect(await scanWith(BANNER_PROFILE)).toMatchObject({ ports: 2, appeared: 0, changed: 0, gone: 0, reappeared: 0, stable: 2 });
      expect(await scanWith(WEB_PROFILE)).toMatchObject({ ports: 2, appeared: 0, changed: 0, gone: 0, reappeared: 0, stable: 2 });
    }
    expect(await changedEvents()).toEqual([]);
    // One current row per port (the latest document), one head per view and port.
    const rows = await t.store.query<{ view: string; current: boolean; view_head: boolean }>(
      'select view, current, view_head from port_observations order by ip, current',
    );
    const bannerView = viewOfJob(BANNER_PROFILE.scripts, BANNER_PROFILE.nmapArgs);
    const webView = viewOfJob(WEB_PROFILE.scripts, WEB_PROFILE.nmapArgs);
    expect(rows).toEqual([
      { view: bannerView, current: false, view_head: true },
      { view: webView, current: true, view_head: true },
      { view: bannerView, current: false, view_head: true },
      { view: webView, current: true, view_head: true },
    ]);

    perimeter.setHttpTitle('Under maintenance');
    expect(await scanWith(WEB_PROFILE)).toMatchObject({ changed: 1, appeared: 0, gone: 0, reappeared: 0 });
    const changed = await changedEvents();
    expect(changed).toEqual([{ port: perimeter.service('http').port, view: webView, previous_view: webView }]);
    expect(await scanWith(BANNER_PROFILE)).toMatchObject({ ports: 2, changed: 0, appeared: 0, gone: 0, reappeared: 0 });
    expect(await changedEvents()).toHaveLength(1);

    // What changed, field by field: the title only (the headers' dates and lengths are never listed).
    const title = [{ field: 'http_title', old: ['Welcome'], new: ['Under maintenance'] }];
    const [event] = await listEvents(t.store, { types: ['changed'] });
    expect(event!.changes).toEqual(title);
    expect(apiEventJson(event!).changes).toEqual(title);
    expect(cliEventJson(event!).changes).toEqual(title);
    expect(eventRow(event!).changes).toBe('http_title: Welcome → Under maintenance');
    const csv = eventsCsv([event!]).split('\r\n');
    expect(csv[0]).toBe('at,type,ip,protocol,port,hsh256,previous_hsh256,changes,run_id,observation_id,flapping');
    expect(csv[1]).toContain(',changed,');
    expect(csv[1]).toContain(',http_title: Welcome → Under maintenance,');
    const { model, markdown } = await generateReport(t.store, { since: '1d' });
    expect(model.changes.changed.map((c) => c.fields)).toEqual([[{ label: 'title', old: ['Welcome'], new: ['Under maintenance'] }]]);
    expect(markdown).toContain('Under maintenance');
  });
});
