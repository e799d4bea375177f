import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.ts';
import { listenForEvents } from '../../store/events-signal.ts';
import { ingestScanResult } from '../../store/ingest.ts';
import { runs } from '../../store/schema/runs.ts';
import { storeKinds } from '../helpers/db.ts';
import { host, port, scan } from '../helpers/scan.ts';
import { expectError, expectSecured, startTestApi, startTestApiOn, type TestApi } from './helpers.ts';
import { readSse } from './sse.ts';

describe.each(storeKinds)('SSE events (%s)', (kind) => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi(kind, { limits: { ssePollMs: 100 } });
  }, 180_000);
  afterAll(async () => {
    await api?.close();
  });

  it('streams appeared/changed/gone events written after connecting, and run progress; resumes with Last-Event-ID', async () => {
    const res = await api.call('/v1/events', { auth: api.keys.viewer });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const runId = newId('run');
    const writer = (async () => {
      await new Promise((r) => setTimeout(r, 300));
      await api.store.db.insert(runs).values({ id: runId, kind: 'investigation', status: 'running', progress: { percent: 40 } });
      await ingestScanResult(api.store, {
        source: 'test',
        scan: scan([host('127.0.9.1', new Date(Date.now() - 60_000).toISOString(), [port(22, 'a'), port(80, 'b')])]),
      });
      await ingestScanResult(api.store, { source: 'test', scan: scan([host('127.0.9.1', new Date().toISOString(), [port(22, 'a2')])]) });
    })();
    const msgs = await readSse(res, (all) => all.filter((m) => m.event === 'observation').length >= 4 && all.some((m) => m.event === 'run'));
    await writer;
    const obs = msgs.filter((m) => m.event === 'observation').map((m) => JSON.parse(m.data) as { type: string; port: number; ip: string });
    expect(obs.map((o) => `${o.type}:${o.port}`).sort()).toEqual(['appeared:22', 'appeared:80', 'changed:22', 'gone:80']);
    expect(obs.every((o) => o.ip === '127.0.9.1')).toBe(true);
    const run = msgs.find((m) => m.event === 'run')!;
    expect(JSON.parse(run.data)).toMatchObject({ id: runId, status: 'running', progress: { percent: 40 } });

    // One projection: a changed event arrives with its diff and previous observation, exactly as GET /v1/history shows it.
    const changed = msgs
      .filter((m) => m.event === 'observation')
      .map((m) => JSON.parse(m.data) as Record<string, unknown>)
      .find((o) => o.type === 'changed')!;
    expect(changed.previousObservationId).toMatch(/^obs_/);
    expect(changed.changes).toContainEqual({ field: 'banner', old: ['a'], new: ['a2'] });
    const history = (await (await api.call('/v1/history?net=127.0.9.1&since=1h', { auth: api.keys.viewer })).json()) as { items: Record<string, unknown>[] };
    expect(history.items.find((e) => e.id === changed.id)).toEqual(changed);

    // Resume after the first observation event: the others come again, the first does not.
    const first = msgs.find((m) => m.event === 'observation')!;
    const resumed = await api.call('/v1/events?runs=false&types=changed,gone', { auth: api.keys.viewer, headers: { 'last-event-id': first.id! } });
    const again = await readSse(resumed, (all) => all.length >= 2, 5000);
    expect(again.map((m) => (JSON.parse(m.data) as { type: string }).type).sort()).toEqual(['changed', 'gone']);
    expect(again.map((m) => m.id)).not.toContain(first.id);
  }, 180_000);

  it('sends an event as soon as its ingest commits, long before the next poll', async () => {
    const events = await listenForEvents(api.store);
    // A poll a minute apart: only the commit signal can bring the event within the bound.
    const woken = await startTestApiOn(api, {}, { ssePollMs: 60_000 }, api.config, events);
    try {
      const res = await woken.call('/v1/events?runs=false', { auth: api.keys.viewer });
      expect(res.status).toBe(200);
      let committed = 0;
      const writer = (async () => {
        await new Promise((r) => setTimeout(r, 500));
        await ingestScanResult(api.store, { source: 'test', scan: scan([host('127.0.9.7', new Date().toISOString(), [port(443, 'tls')])]) });
        committed = Date.now();
      })();
      const msgs = await readSse(res, (all) => all.some((m) => m.event === 'observation'), 10_000);
      const arrived = Date.now();
      await writer;
      expect(msgs.filter((m) => m.event === 'observation').map((m) => JSON.parse(m.data).ip)).toEqual(['127.0.9.7']);
      expect(arrived - committed).toBeLessThan(3000);
    } finally {
      await woken.close();
      await events.close();
    }
  });

  it.each([
    ['/v1/events?types=born', 'invalid query field "types": must be a comma-separated list of appeared, changed, gone, reappeared'],
    ['/v1/events?since=yesterday', 'invalid query field "since": Invalid ISO datetime'],
    ['/v1/events?runs=maybe', 'invalid query field "runs": Invalid option: expected one of "true"|"false"'],
  ])('GET %s is refused', async (path, message) => {
    await expectError(await api.call(path, { auth: api.keys.viewer }), 400, 'invalid_input', message);
  });

  it('refuses a malformed Last-Event-ID', async () => {
    await expectError(
      await api.call('/v1/events', { auth: api.keys.viewer, headers: { 'last-event-id': 'garbage' } }),
      400,
      'invalid_input',
      'Last-Event-ID is not an evt_… id',
    );
  });

  it('caps open streams per key and per server with a 429 that says so; a closed stream frees its slot', async () => {
    const capped = await startTestApiOn(api, {}, { ssePollMs: 100, sseStreamsPerKey: 2, sseStreamsTotal: 3 });
    const open: Response[] = [];
    try {
      for (let i = 0; i < 2; i++) open.push(await capped.call('/v1/events?runs=false', { auth: api.keys.viewer }));
      expect(open.map((r) => r.status)).toEqual([200, 200]);
      await expectError(
        await capped.call('/v1/events', { auth: api.keys.viewer }),
        429,
        'rate_limited',
        'too many open event streams for this API key: at most 2',
      );
      open.push(await capped.call('/v1/events?runs=false', { auth: api.keys.operator }));
      expect(open[2]!.status).toBe(200);
      await expectError(
        await capped.call('/v1/events', { auth: api.keys.admin }),
        429,
        'rate_limited',
        'too many open event streams on this server: at most 3',
      );

      await open.shift()!.body!.cancel();
      let again: Response | undefined;
      for (let i = 0; i < 50 && again?.status !== 200; i++) {
        await again?.body?.cancel();
        await new Promise((r) => setTimeout(r, 100));
        again = await capped.call('/v1/events?runs=false', { auth: api.keys.viewer });
      }
      expect(again!.status).toBe(200);
      open.push(again!);
    } finally {
      for (const r of open) await r.body?.cancel().catch(() => {});
      await capped.close();
    }
  }, 60_000);

  it('rate-limits heavy history reads per key (429 with what to do)', async () => {
    const limited = await startTestApiOn(api, {}, { expensivePerMinute: 2 });
    try {
      for (let i = 0; i < 2; i++) expect((await limited.call('/v1/history?since=99999d&limit=10000', { auth: api.keys.viewer })).status).toBe(200);
      await expectError(
        await limited.call('/v1/history?since=99999d&limit=10000', { auth: api.keys.viewer }),
        429,
        'rate_limited',
        'too many requests: at most 2 a minute on this route',
      );
      // Another key has its own budget.
      expect((await limited.call('/v1/history?since=1d', { auth: api.keys.operator })).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('rate-limits a host page only when it asks for more than the default events', async () => {
    const limited = await startTestApiOn(api, {}, { expensivePerMinute: 2 });
    try {
      // The common page (default events, or fewer) is never limited.
      for (let i = 0; i < 4; i++) expect((await limited.call('/v1/hosts/127.0.0.1', { auth: api.keys.viewer })).status).not.toBe(429);
      expect((await limited.call('/v1/hosts/127.0.0.1?events=1000', { auth: api.keys.viewer })).status).not.toBe(429);
      for (let i = 0; i < 2; i++) expect((await limited.call('/v1/hosts/127.0.0.1?events=10000', { auth: api.keys.viewer })).status).not.toBe(429);
      await expectError(
        await limited.call('/v1/hosts/127.0.0.1?events=10000', { auth: api.keys.viewer }),
        429,
        'rate_limited',
        'too many requests: at most 2 a minute on this route',
      );
    } finally {
      await limited.close();
    }
  });

  it('needs a viewer key', async () => {
    await expectSecured(api, 'GET', '/v1/events?types=born', 'viewer');
  });
});
