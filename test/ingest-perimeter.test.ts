import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNmapRunner } from '../activities/nmap.ts';
import { parseNmapString } from '../core/nmap/parse.ts';
import { ingestScanResult, type IngestSummary } from '../store/ingest.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';
import { startPerimeter, type Perimeter } from '../demo/perimeter/index.ts';

// Successive real nmap scans of the loopback perimeter (127.0.0.0/8 only), each ingested as one job.
describe.each(storeKinds)('history of the live loopback perimeter on %s', (kind) => {
  let t: TestStore;
  let perimeter: Perimeter;
  const nmap = createNmapRunner({ killGraceMs: 500 });
  beforeAll(async () => {
    [t, perimeter] = await Promise.all([openTestStore(kind), startPerimeter({ title: 'Welcome' })]);
  });
  afterAll(async () => {
    await Promise.all([t?.cleanup(), perimeter?.close()]);
  });

  async function scanAndIngest(): Promise<IngestSummary> {
    const http = perimeter.service('http');
    const ssh = perimeter.service('ssh');
    const scope = { targets: [http.ip, ssh.ip], tcpPorts: `${http.port},${ssh.port}` };
    for (const ip of scope.targets) expect(ip.startsWith('127.')).toBe(true);
    const result = await nmap.runNmap({ ...scope, scripts: ['http-title', 'plum-banner'], hostTimeout: '30s' });
    expect(result.exitCode).toBe(0);
    const xml = result.xml;
    return ingestScanResult(t.store, { scan: parseNmapString(xml.toString('utf8')), scope, source: 'perimeter', rawXml: xml });
  }

  it('records appeared, stable, changed, gone and reappeared as the services change', async () => {
    const http = perimeter.service('http');
    const ssh = perimeter.service('ssh');
    expect(await scanAndIngest()).toMatchObject({ hosts: 2, hostsUp: 2, ports: 2, appeared: 2, stable: 0 });
    expect(await scanAndIngest()).toMatchObject({ appeared: 0, stable: 2, changed: 0, gone: 0 });
    perimeter.setHttpTitle('Under maintenance');
    expect(await scanAndIngest()).toMatchObject({ stable: 1, changed: 1 });
    await perimeter.stopService('http');
    expect(await scanAndIngest()).toMatchObject({ stable: 1, gone: 1, ports: 1 });
    await perimeter.startService('http');
    expect(await scanAndIngest()).toMatchObject({ stable: 1, reappeared: 1, changed: 0, appeared: 0 });

    const events = await t.store.query<{ type: string; ip: string; port: number; hsh256: string; previous_hsh256: string | null }>(
      'select type, host(ip) as ip, port, hsh256, previous_hsh256 from observation_events order by at, created_at, port',
    );
    expect(events.map((e) => [e.type, e.ip, e.port])).toEqual([
      ...[
        ['appeared', http.ip, http.port],
        ['appeared', ssh.ip, ssh.port],
      ].sort((a, b) => Number(a[2]) - Number(b[2])),
      ['changed', http.ip, http.port],
      ['gone', http.ip, http.port],
      ['reappeared', http.ip, http.port],
    ]);
    const changed = events.find((e) => e.type === 'changed')!;
    expect(events.find((e) => e.type === 'reappeared')!.hsh256).toBe(changed.hsh256);
    const [title] = await t.store.query<{ t: string[] }>("select fields->'http_title' as t from port_observations where ip = $1::inet and current", [http.ip]);
    expect(title!.t).toEqual(['Under maintenance']);
    const [ssh5] = await t.store.query<{ times_seen: number; state: string }>(
      'select times_seen, state from port_observations join observation_sightings using (id) where ip = $1::inet and current',
      [ssh.ip],
    );
    expect(ssh5).toEqual({ times_seen: 5, state: 'open' });
  });
});
