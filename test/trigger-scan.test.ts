import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNmapRunner } from '../activities/nmap.ts';
import { embeddedServices } from '../workers/serve-services.ts';
import { silentLogger } from '../core/log.ts';
import { parseNmapString } from '../core/nmap/parse.ts';
import { ingestScanResult, type IngestScan } from '../store/ingest.ts';
import { getProfile, saveProfile } from '../store/repos/profiles.ts';
import { getRun, listJobs, runJson } from '../store/repos/runs.ts';
import { addTargets } from '../store/repos/targets.ts';
import { firingsOfProfile, firingsOfRun } from '../store/repos/trigger-firings.ts';
import { dispatchTriggerFirings, type TriggerPassSummary } from '../workers/trigger-dispatcher.ts';
import { profileRequest, runEmbedded, type EmbeddedDeps } from '../workers/embedded.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';

/**
 * Trigger profiles end to end over real nmap on loopback: a web scan finds an HTTP service titled "Index of /",
 * the trigger profile's query fires on it once, and the dispatcher runs the trigger profile (http-ls) on that
 * address and port only, with the finding as the run's origin. Only 127.0.0.1 is ever scanned.
 */
describe.each(storeKinds)('trigger profiles on %s', (kind) => {
  let t: TestStore;
  let deps: EmbeddedDeps;
  let services: ReturnType<typeof embeddedServices>;
  let listing: http.Server;
  let other: http.Server;
  let listingPort: number;
  let otherPort: number;
  let title = 'Index of /';
  const started = new Set<string>();

  const serve = (page: () => string) =>
    new Promise<http.Server>((resolve) => {
      const s = http.createServer((_req, res) => {
        // A server header nmap's service probes recognise as HTTP; no date, so a page's fingerprint stays the same.
        res.sendDate = false;
        res.writeHead(200, { 'Content-Type': 'text/html', Server: 'Apache/2.4.57 (Debian)' });
        res.end(page());
      });
      s.listen(0, '127.0.0.1', () => resolve(s));
    });

  beforeAll(async () => {
    t = await openTestStore(kind);
    listing = await serve(
      () => `<html><head><title>${title}</title></head><body><h1>${title}</h1><pre><a href="a.txt">a.txt</a>   2026-01-01 10:00  12</pre></body></html>`,
    );
    other = await serve(() => '<html><head><title>Welcome</title></head><body>hello</body></html>');
    listingPort = (listing.address() as AddressInfo).port;
    otherPort = (other.address() as AddressInfo).port;
    await addTargets(t.store, ['127.0.0.1']);
    // Service detection: the HTTP scripts run only on ports nmap knows speak HTTP, and these are random ones.
    await saveProfile(t.store, {
      name: 'webt',
      tcpPorts: `${listingPort},${otherPort}`,
      scripts: ['http-title'],
      nmapArgs: '-sV --version-light',
      hostTimeout: '60s',
    });
    // http-title too, so that the triggered run's own findings match the query: they must not fire it again.
    await saveProfile(t.store, {
      name: 'listing',
      trigger: 'http_title.lk:"index of"',
      scripts: ['http-ls', 'http-title'],
      nmapArgs: '-sV --version-light',
      hostTimeout: '60s',
    });
    const nmap = createNmapRunner({ statsEvery: '1s', killGraceMs: 500 });
    deps = { store: t.store, config: t.config, log: silentLogger, nmap, maxInFlight: 2, resolve: async () => [] };
    services = embeddedServices(deps);
  }, 60_000);

  afterAll(async () => {
    await services?.close();
    listing?.close();
    other?.close();
    await t?.cleanup();
  });

  const scanWeb = (at: string) => runEmbedded(deps, profileRequest('webt', { scheduledFor: new Date(at) }));
  const dispatch = async (perHour: number, now = new Date()): Promise<TriggerPassSummary> => {
    const s = await dispatchTriggerFirings({
      store: t.store,
      log: silentLogger,
      perHour,
      now: () => now,
      resolve: async () => [],
      start: async (request) => {
        await services.startRun(request);
        started.add(request.workflowId);
      },
    });
    await Promise.all([...services.running.values()]);
    return s;
  };
  const firings = async () => firingsOfProfile(t.store, (await getProfile(t.store, 'listing')).id);

  it('fires once on the listing, and runs the trigger profile on that address and port only', async () => {
    const web = await scanWeb('2026-12-01T00:00:00Z');
    expect(web.status).toBe('succeeded');
    const fired = await firings();
    expect(fired.map((f) => [f.ip, f.protocol, f.port, f.status])).toEqual([['127.0.0.1', 'tcp', listingPort, 'pending']]);
    const [obs] = await t.store.query<{ id: string }>(`select id from port_observations where port = $1 and current and fields->'http_title' ? 'Index of /'`, [
      listingPort,
    ]);
    expect(fired[0]!.observation_id).toBe(obs!.id);

    const pass = await dispatch(5);
    expect(pass).toMatchObject({ refused: 0, waiting: 0, errors: [] });
    expect(pass.started).toEqual([`trigger:listing:${fired[0]!.id}`]);
    const [f] = await firings();
    expect(f).toMatchObject({ status: 'claimed', workflow_id: pass.started[0] });
    const run = (await getRun(t.store, f!.run_id!))!;
    expect(run).toMatchObject({ kind: 'trigger', profile_name: 'listing', status: 'succeeded', targets: ['127.0.0.1'], requested_by: 'trigger' });
    expect(runJson(run).origin).toEqual({
      query: 'http_title.lk:"index of"',
      firingId: f!.id,
      observationId: obs!.id,
      ip: '127.0.0.1',
      protocol: 'tcp',
      port: listingPort,
      hsh256: f!.hsh256,
      firings: 1,
    });
    expect(run.reason).toContain(`127.0.0.1 tcp/${listingPort}`);
    const jobs = await listJobs(t.store, run.id);
    expect(jobs.map((j) => [j.targets, j.tcp_ports, j.udp_ports, j.scripts])).toEqual([[['127.0.0.1'], String(listingPort), null, ['http-ls', 'http-title']]]);
    // http-ls read the listing: what the triggered scan was for.
    const [ls] = await t.store.query<{ n: number }>(
      `select count(*)::int as n from port_observations o join observation_sightings s using (id) where s.last_run_id = $1 and o.doc::text like '%http-ls%'`,
      [run.id],
    );
    expect(ls!.n).toBe(1);
    expect((await firingsOfRun(t.store, run.id)).map((x) => x.id)).toEqual([f!.id]);
    // The triggered run's own findings match the query too, and fire nothing.
    expect(await firings()).toHaveLength(1);
  }, 180_000);

  it('fires nothing when a scan sees the same fingerprint again', async () => {
    await scanWeb('2026-12-01T06:00:00Z');
    expect(await firings()).toHaveLength(1);
    expect((await dispatch(5)).started).toEqual([]);
  }, 120_000);

  it('fires again when the fingerprint changes and still matches', async () => {
    title = 'Index of /pub';
    await scanWeb('2026-12-01T12:00:00Z');
    const fired = await firings();
    expect(fired).toHaveLength(2);
    expect(fired[0]).toMatchObject({ port: listingPort, status: 'pending' });
    expect(fired[0]!.hsh256).not.toBe(fired[1]!.hsh256);
    const pass = await dispatch(5);
    expect(pass.started).toEqual([`trigger:listing:${fired[0]!.id}`]);
    expect((await getRun(t.store, (await firings())[0]!.run_id!))!.status).toBe('succeeded');
  }, 180_000);

  it('holds firings beyond the rate limit until the hour has passed, and drops none', async () => {
    title = 'Index of /srv';
    await scanWeb('2026-12-01T18:00:00Z');
    const [waiting] = await firings();
    expect(waiting).toMatchObject({ status: 'pending', port: listingPort });
    // Two runs started in the last hour: a limit of two holds the third.
    const held = await dispatch(2);
    expect(held).toMatchObject({ started: [], waiting: 1 });
    expect((await firings())[0]).toMatchObject({ id: waiting!.id, status: 'pending', run_id: null });
    const later = await dispatch(2, new Date(Date.now() + 61 * 60_000));
    expect(later.started).toEqual([`trigger:listing:${waiting!.id}`]);
    expect((await firings())[0]).toMatchObject({ id: waiting!.id, status: 'claimed' });
  }, 180_000);

  it('never fires a scan of an address outside the perimeter', async () => {
    // The web scan's own result, as if it had been taken at 127.0.0.9 (outside the perimeter) and imported.
    const [raw] = await t.store.query<{ xml_gz: Uint8Array }>(
      `select r.xml_gz from raw_results r join runs u on u.id = r.run_id where u.profile_name = 'webt' order by r.id desc limit 1`,
    );
    const xml = gunzipSync(Buffer.from(raw!.xml_gz)).toString('utf8').replaceAll('127.0.0.1', '127.0.0.9').replace('Index of /srv', 'Index of /elsewhere');
    await ingestScanResult(t.store, { scan: parseNmapString(xml) as unknown as IngestScan, source: 'outside.xml', rawXml: Buffer.from(xml) });
    const [outside] = await firings();
    expect(outside).toMatchObject({ ip: '127.0.0.9', status: 'pending' });
    const runsBefore = started.size;
    const pass = await dispatch(100);
    expect(pass).toMatchObject({ started: [], refused: 1 });
    expect(started.size).toBe(runsBefore);
    expect((await firings())[0]).toMatchObject({ id: outside!.id, status: 'out_of_scope', run_id: null });
    expect((await firings())[0]!.error).toMatch(/127\.0\.0\.9 \(outside the perimeter\)/);
    // Refused for good: a later pass does not try again.
    expect(await dispatch(100)).toMatchObject({ started: [], refused: 0 });
  }, 120_000);

  it('refuses to run a trigger profile as a scheduled profile', async () => {
    await expect(runEmbedded(deps, profileRequest('listing'))).rejects.toThrow(/profile listing is a trigger profile/);
  });
});
