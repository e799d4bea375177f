import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.ts';
import { silentLogger } from '../../core/log.ts';
import { ingestScanResult } from '../../store/ingest.ts';
import { saveProfile } from '../../store/repos/profiles.ts';
import { addTargets } from '../../store/repos/targets.ts';
import { claimFirings, firingsOfProfile } from '../../store/repos/trigger-firings.ts';
import { storeKinds } from '../helpers/db.ts';
import { host, port, scan } from '../helpers/scan.ts';
import type { TestApi } from '../api/helpers.ts';
import { loginAs, startTestWeb } from './helpers.ts';

/**
 * A triggered run's page names the finding that started it: the query (escaped: it is user text), the address
 * (a link to its host page), the port and the observation. The run is planned as the dispatcher's would be.
 */
describe.each(storeKinds)("a triggered run's origin on the web and the API (%s)", (kind) => {
  let api: TestApi;
  let runId: string;
  let observationId: string;
  const query = 'banner.lk:"<b>index of</b>"';

  beforeAll(async () => {
    api = await startTestWeb(kind);
    await addTargets(api.store, ['127.0.73.0/28']);
    const profile = await saveProfile(api.store, { name: 'listing', trigger: query, scripts: ['http-title'] });
    await ingestScanResult(api.store, { scan: scan([host('127.0.73.5', new Date().toISOString(), [port(8080, '<b>Index of</b> /')])], '8080'), source: 'web' });
    const [firing] = await firingsOfProfile(api.store, profile.id);
    observationId = firing!.observation_id;
    const claim = await claimFirings(api.store, { profileId: profile.id, profile: 'listing', ids: [firing!.id], perHour: 1, now: new Date() });
    const acts = createActivities({ log: silentLogger, store: api.store, runnerName: 'test' });
    runId = (await acts.planRun({ kind: 'trigger', profile: 'listing', workflowId: claim!.workflowId, requestedBy: 'trigger' })).runId;
  }, 240_000);
  afterAll(async () => {
    await api?.close();
  });

  it('the run page shows the query, the address and port, and the observation', async () => {
    const { client } = await loginAs(api, 'viewer');
    const html = await (await client.get(`/runs/${runId}`)).text();
    expect(html).toContain(
      'Triggered by <code>banner.lk:&quot;&lt;b&gt;index of&lt;/b&gt;&quot;</code> on <a href="/hosts/127.0.73.5">127.0.73.5</a> 8080/tcp',
    );
    expect(html).toContain(`(observation ${observationId})`);
    expect(html).not.toContain('<b>index of</b>');
    // Its one job, with its stage (a triggered run has no scouting stage).
    expect(html).toContain('<td>Scan (nmap)</td>');
    expect(html).not.toContain('Scouting (masscan)');
  });

  it('GET /v1/runs/{id} has the origin; other runs have none', async () => {
    const body = (await (await api.call(`/v1/runs/${runId}`, { auth: api.keys.viewer })).json()) as {
      run: { kind: string; origin: unknown };
      jobs: { targets: string[]; tcpPorts: string; stage: string }[];
    };
    expect(body.run).toMatchObject({ kind: 'trigger', origin: { query, ip: '127.0.73.5', protocol: 'tcp', port: 8080, observationId, firings: 1 } });
    expect(body.jobs.map((j) => [j.targets, j.tcpPorts, j.stage])).toEqual([[['127.0.73.5'], '8080', 'scan']]);
    const list = (await (await api.call('/v1/runs?kind=import', { auth: api.keys.viewer })).json()) as { items: { origin: unknown }[] };
    expect(list.items[0]!.origin).toBeNull();
  });
});
