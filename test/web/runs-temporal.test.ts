import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.ts';
import { createNmapRunner } from '../../activities/nmap.ts';
import { silentLogger } from '../../core/log.ts';
import { addTargets } from '../../store/repos/targets.ts';
import { workflowIdFor } from '../../workflows/logic/scan-run.ts';
import { storeKinds } from '../helpers/db.ts';
import { startTestApiOn, type TestApi } from '../api/helpers.ts';
import { loginAs, startTestWeb, WebClient } from './helpers.ts';

const UI = 'http://127.0.0.1:8233';
const NAMESPACE = 'plum ns/1';

/**
 * The runs pages link a run to its workflow in the Temporal UI in distributed
 * mode only. Runs are planned by the plan activity a Temporal workflow calls
 * (same rows, same workflow ids); no Temporal server is needed to render them.
 */
describe.each(storeKinds)('runs pages and the Temporal UI (%s)', (kind) => {
  let api: TestApi;
  let distributed: Awaited<ReturnType<typeof startTestApiOn>>;
  let embeddedWithUrl: Awaited<ReturnType<typeof startTestApiOn>>;
  const runs: Record<'profile' | 'investigation' | 'hostile', { runId: string; workflowId: string }> = {} as never;
  const viewerOn = (url: string, from: WebClient) => Object.assign(new WebClient(url), { cookies: new Map(from.cookies) });
  let viewer: WebClient;

  beforeAll(async () => {
    api = await startTestWeb(kind);
    await addTargets(api.store, ['127.0.72.0/28']);
    const acts = createActivities({ log: silentLogger, store: api.store, nmap: createNmapRunner({}), heartbeatEveryMs: 1000, runnerName: 'test' });
    const ids = {
      profile: workflowIdFor({ kind: 'profile', profile: 'banner', scheduledFor: '2026-01-01T06:00:00.000Z' }),
      investigation: workflowIdFor({ kind: 'investigation', investigationId: 'inv_temporal' }),
      hostile: '"><script>alert(1)</script>',
    };
    runs.profile = {
      workflowId: ids.profile,
      runId: (
        await acts.planRun({ kind: 'profile', profile: 'banner', scheduledFor: '2026-01-01T06:00:00.000Z', workflowId: ids.profile, requestedBy: 'schedule' })
      ).runId,
    };
    for (const k of ['investigation', 'hostile'] as const) {
      const plan = await acts.planRun({
        kind: 'investigation',
        investigationId: `inv_${k}`,
        workflowId: ids[k],
        targets: ['127.0.72.1'],
        tcpPorts: '80',
        requestedBy: 'test',
      });
      runs[k] = { workflowId: ids[k], runId: plan.runId };
    }
    distributed = await startTestApiOn(api, undefined, undefined, {
      ...api.config,
      PLUM_TEMPORAL_ADDRESS: '127.0.0.1:7233',
      PLUM_TEMPORAL_UI_URL: `${UI}/`,
      PLUM_TEMPORAL_NAMESPACE: NAMESPACE,
    });
    embeddedWithUrl = await startTestApiOn(api, undefined, undefined, { ...api.config, PLUM_TEMPORAL_UI_URL: UI });
    viewer = (await loginAs(api, 'viewer')).client;
  }, 240_000);
  afterAll(async () => {
    await distributed?.close();
    await embeddedWithUrl?.close();
    await api?.close();
  });

  it("happy: in distributed mode a run's page links to its workflow, namespace and id escaped as path segments", async () => {
    const html = await (await viewerOn(distributed.server.url, viewer).get(`/runs/${runs.profile.runId}`)).text();
    expect(html).toContain(
      `<a href="${UI}/namespaces/plum%20ns%2F1/workflows/profile%3Abanner%3A2026-01-01T06%3A00%3A00.000Z" rel="noopener noreferrer">Open the workflow in the Temporal UI</a>`,
    );
  });

  it('happy: the runs list links each run to its workflow', async () => {
    const html = await (await viewerOn(distributed.server.url, viewer).get('/runs')).text();
    expect(html).toContain('<th scope="col">Temporal</th>');
    expect(html).toContain(`href="${UI}/namespaces/plum%20ns%2F1/workflows/investigation%3Ainv_temporal"`);
    expect(html).toContain(`href="${UI}/namespaces/plum%20ns%2F1/workflows/profile%3Abanner%3A2026-01-01T06%3A00%3A00.000Z"`);
  });

  it('embedded mode: no link, with or without PLUM_TEMPORAL_UI_URL', async () => {
    for (const base of [api.server.url, embeddedWithUrl.server.url]) {
      const c = viewerOn(base, viewer);
      const run = await (await c.get(`/runs/${runs.investigation.runId}`)).text();
      expect(run).toContain(runs.investigation.runId);
      expect(run).not.toContain('Temporal UI');
      expect(run).not.toContain(UI);
      const list = await (await c.get('/runs')).text();
      expect(list).toContain(`href="/runs/${runs.investigation.runId}"`);
      expect(list).not.toContain('<th scope="col">Temporal</th>');
      expect(list).not.toContain(UI);
    }
  });

  it('security: a workflow id with markup stays inside the escaped link', async () => {
    const html = await (await viewerOn(distributed.server.url, viewer).get(`/runs/${runs.hostile.runId}`)).text();
    expect(html).toContain(`href="${UI}/namespaces/plum%20ns%2F1/workflows/%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E"`);
    expect(html).not.toContain('<script>alert(1)');
  });
});
