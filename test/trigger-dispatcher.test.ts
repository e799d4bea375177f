import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNmapRunner } from '../activities/nmap.ts';
import { embeddedServices } from '../workers/serve-services.ts';
import { silentLogger } from '../core/log.ts';
import { listenForEvents, type EventsSignal } from '../store/events-signal.ts';
import { ingestScanResult } from '../store/ingest.ts';
import { getProfile, saveProfile } from '../store/repos/profiles.ts';
import { getRun } from '../store/repos/runs.ts';
import { addTargets } from '../store/repos/targets.ts';
import { claimFirings, firingsOfProfile } from '../store/repos/trigger-firings.ts';
import { startTriggerDispatcher } from '../workers/trigger-dispatcher.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';
import { host, port, scan } from './helpers/scan.ts';

/**
 * The dispatcher of `plum serve`: a claim left unstarted by a crash is started when it comes up, and a new
 * finding's firing becomes a run as soon as its ingest commits (the events signal), without a tick.
 * The triggered runs scan a Node HTTP server on 127.0.0.1 with real nmap.
 */
describe.each(storeKinds)('the trigger dispatcher on %s', (kind) => {
  let t: TestStore;
  let server: http.Server;
  let httpPort: number;
  let events: EventsSignal;
  let services: ReturnType<typeof embeddedServices>;

  beforeAll(async () => {
    t = await openTestStore(kind);
    server = http.createServer((_req, res) => res.end('<title>Index of /</title>'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    httpPort = (server.address() as AddressInfo).port;
    await addTargets(t.store, ['127.0.0.1']);
    await saveProfile(t.store, { name: 'listing', trigger: 'banner.lk:"index of"', scripts: ['http-title'] });
    events = await listenForEvents(t.store);
    services = embeddedServices({
      store: t.store,
      config: t.config,
      log: silentLogger,
      nmap: createNmapRunner({ statsEvery: '1s', killGraceMs: 500 }),
      resolve: async () => [],
    });
  }, 60_000);
  afterAll(async () => {
    await services?.close();
    await events?.close();
    server?.close();
    await t?.cleanup();
  });

  const firings = async () => firingsOfProfile(t.store, (await getProfile(t.store, 'listing')).id);
  const until = async <T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await fn();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const finishedRunOf = (firingId: string) =>
    until(`the run of ${firingId}`, async () => {
      const f = (await firings()).find((x) => x.id === firingId);
      const run = f?.run_id ? await getRun(t.store, f.run_id) : undefined;
      return run && !['running', 'queued'].includes(run.status) ? run : undefined;
    });

  it('starts a claim a crash left unstarted, then runs each new finding as soon as its ingest commits', async () => {
    // A finding fired and was claimed, and the process died before starting its run.
    await ingestScanResult(t.store, {
      scan: scan([host('127.0.0.1', new Date().toISOString(), [port(httpPort, 'Index of /')])], String(httpPort)),
      source: 'first',
    });
    const [first] = await firings();
    const claim = await claimFirings(t.store, { profileId: first!.profile_id, profile: 'listing', ids: [first!.id], perHour: 5, now: new Date() });
    expect(claim).toMatchObject({ workflowId: `trigger:listing:${first!.id}`, firings: 1 });

    // The idle timer is an hour: only the start-up pass and commits can start anything here.
    const dispatcher = startTriggerDispatcher({
      store: t.store,
      log: silentLogger,
      perHour: 5,
      resolve: async () => [],
      events,
      idleMs: 3_600_000,
      start: async (request) => {
        await services.startRun(request);
      },
    });
    try {
      const resumed = await finishedRunOf(first!.id);
      expect(resumed).toMatchObject({ kind: 'trigger', status: 'succeeded', workflow_id: claim!.workflowId });

      // A changed service that still matches, seen after the triggered run (an older scan would only widen history):
      // its ingest's commit wakes the dispatcher.
      await ingestScanResult(t.store, {
        scan: scan([host('127.0.0.1', new Date(Date.now() + 1000).toISOString(), [port(httpPort, 'Index of /pub')])], String(httpPort)),
        source: 'second',
      });
      const [second] = await firings();
      expect(second!.id).not.toBe(first!.id);
      const woken = await finishedRunOf(second!.id);
      expect(woken).toMatchObject({ kind: 'trigger', status: 'succeeded', workflow_id: `trigger:listing:${second!.id}` });
      expect(woken.progress).toMatchObject({ origin: { firingId: second!.id, port: httpPort, query: 'banner.lk:"index of"' } });
    } finally {
      await dispatcher.stop();
    }
  }, 180_000);
});
