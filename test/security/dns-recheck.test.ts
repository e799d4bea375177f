import fs from 'node:fs';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.ts';
import { storeResultSink } from '../../activities/result-sinks.ts';
import { createNmapRunner } from '../../activities/nmap.ts';
import { PlumError } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { saveProfile } from '../../store/repos/profiles.ts';
import { addTargets } from '../../store/repos/targets.ts';
import { openTestStore, storeKinds, type TestStore } from '../helpers/db.ts';

/**
 * A name was checked when the run was planned and resolved again
 * by nmap, possibly hours later. The activity that runs nmap resolves it again
 * and scans it only if it still points at the addresses that were checked.
 * nmap's path does not exist: reaching it fails with `unavailable`, which
 * proves the check let the job through; a refusal comes before.
 */
describe.each(storeKinds)('names are checked again right before nmap starts (%s)', (kind) => {
  let t: TestStore;
  const dns: Record<string, string[]> = {};
  beforeAll(async () => {
    t = await openTestStore(kind);
    await addTargets(t.store, ['127.0.0.0/30', 'www.plum.test', 'api.plum.test']);
  }, 120_000);
  afterAll(async () => {
    await t?.cleanup();
  });

  const acts = () =>
    createActivities({
      log: silentLogger,
      store: t.store,
      nmap: createNmapRunner({ nmapPath: '/nonexistent/nmap-must-not-start' }),
      resolve: async (name) => dns[name] ?? [],
    });

  async function planned(workflowId: string) {
    const a = acts();
    const plan = await a.planRun({
      kind: 'investigation',
      investigationId: 'inv_x',
      workflowId,
      targets: ['www.plum.test', 'api.plum.test'],
      tcpPorts: '80',
      requestedBy: 'test',
    });
    const [spec] = await a.getJobSpecs({ runId: plan.runId, fromIndex: 0, count: 1 });
    return { a, spec: spec! };
  }

  it('records the checked addresses with the job', async () => {
    dns['www.plum.test'] = ['127.0.0.1'];
    dns['api.plum.test'] = ['127.0.0.2'];
    const { spec } = await planned(`investigation:pin-${kind}`);
    expect(spec.pinned).toEqual({ 'www.plum.test': ['127.0.0.1'], 'api.plum.test': ['127.0.0.2'] });
  });

  it('refuses to scan when every name moved elsewhere since planning', async () => {
    dns['www.plum.test'] = ['127.0.0.1'];
    dns['api.plum.test'] = ['127.0.0.2'];
    const { a, spec } = await planned(`investigation:moved-${kind}`);
    dns['www.plum.test'] = ['192.0.2.10'];
    dns['api.plum.test'] = [];
    const err = await a.runNmapJob(spec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlumError);
    expect((err as PlumError).code).toBe('out_of_scope');
    expect((err as PlumError).message).toBe('job 0: api.plum.test no longer resolves; www.plum.test now at 192.0.2.10; nothing left to scan');
  });

  it("an admin's script allowance travels with the profile's jobs to the runner", async () => {
    dns['www.plum.test'] = ['127.0.0.1'];
    dns['api.plum.test'] = ['127.0.0.2'];
    await saveProfile(t.store, { name: 'slow', tcpPorts: '80', scripts: ['http-slowloris'], allowScripts: ['http-slowloris'] });
    const a = acts();
    const plan = await a.planRun({ kind: 'profile', profile: 'slow', workflowId: `profile:slow:${kind}`, requestedBy: 'test' });
    const specs = await a.getJobSpecs({ runId: plan.runId, fromIndex: 0, count: 10 });
    expect(specs.length).toBeGreaterThan(0);
    for (const spec of specs) expect(spec.allowScripts).toEqual(['http-slowloris']);
    // Allowed: the runner lets the job reach nmap (which does not exist here).
    expect(((await a.runNmapJob(specs[0]!).catch((e: unknown) => e)) as PlumError).code).toBe('unavailable');
    // Without the allowance the runner refuses before nmap.
    const { allowScripts: _dropped, ...bare } = specs[0]!;
    expect(((await a.runNmapJob(bare).catch((e: unknown) => e)) as PlumError).code).toBe('unsafe_argument');
  });

  it('does not store what nmap found at an address outside the job (a name moved before nmap resolved it)', async () => {
    dns['www.plum.test'] = ['127.0.0.1'];
    dns['api.plum.test'] = ['127.0.0.2'];
    const { a, spec } = await planned(`investigation:moved-late-${kind}`);
    // nmap's own lookup of api.plum.test answered 127.0.0.3: inside the perimeter, outside what the job checked.
    const fixture = fs.readFileSync(new URL('../fixtures/nmap/loopback-http.xml', import.meta.url), 'utf8');
    const host = fixture.slice(fixture.indexOf('<host '), fixture.indexOf('</host>') + '</host>\n'.length);
    const end = fixture.indexOf('</host>') + '</host>\n'.length;
    const xml = Buffer.from(fixture.slice(0, end).replaceAll('127.176.69.1', '127.0.0.1') + host.replaceAll('127.176.69.1', '127.0.0.3') + fixture.slice(end));
    await storeResultSink(t.store).deliver(spec, xml, createHash('sha256').update(xml).digest('hex'));
    const outcome = await a.ingestJob({ runId: spec.runId, jobId: spec.jobId });
    expect(outcome.status).toBe('partial');
    expect(outcome.error).toMatch(/^1 host outside the job's targets and checked addresses not stored \(a name moved before nmap resolved it\): 127\.0\.0\.3$/);
    const stored = await t.store.query<{ ip: string }>('select distinct host(ip) as ip from port_observations order by 1');
    expect(stored.map((r) => r.ip)).toEqual(['127.0.0.1']);
    const [job] = await t.store.query<{ status: string; error: string }>('select status, error from jobs where id = $1', [spec.jobId]);
    expect(job).toMatchObject({ status: 'partial', error: outcome.error });
  });

  it('goes on to nmap when the names still point where they were checked', async () => {
    dns['www.plum.test'] = ['127.0.0.1'];
    dns['api.plum.test'] = ['127.0.0.2'];
    const { a, spec } = await planned(`investigation:same-${kind}`);
    dns['api.plum.test'] = ['192.0.2.10'];
    const err = await a.runNmapJob(spec).catch((e: unknown) => e);
    expect((err as PlumError).code).toBe('unavailable');
  });
});
