import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.ts';
import { ingestScanResult } from '../../store/ingest.ts';
import { runs } from '../../store/schema/runs.ts';
import { storeKinds } from '../helpers/db.ts';
import { host, port, scan } from '../helpers/scan.ts';
import { expectError, expectSecured, startTestApi, type TestApi } from './helpers.ts';

interface SseMessage { id?: string; event?: string; data: string }

/** Reads SSE messages from a live response until `stop` says enough or the timeout passes. */
async function readSse(res: Response, stop: (all: SseMessage[]) => boolean, timeoutMs = 15_000): Promise<SseMessage[]> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const out: SseMessage[] = [];
  let buf = '';
  const deadline = Date.now() + timeoutMs;
  try {
    while (Date.now() < deadline && !stop(out)) {
      const chunk = await Promise.race([reader.read(), new Promise<null>((r) => setTimeout(() => r(null), deadline - Date.now()))]);
      if (!chunk || chunk.done) break;
      buf += decoder.decode(chunk.value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const msg: SseMessage = { data: '' };
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) msg.id = line.slice(4);
          else if (line.startsWith('event: ')) msg.event = line.slice(7);
          else if (line.startsWith('data: ')) msg.data += line.slice(6);
        }
        if (msg.event) out.push(msg);
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return out;
}

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
      await ingestScanResult(api.store, { source: 'test', scan: scan([host('127.0.9.1', new Date(Date.now() - 60_000).toISOString(), [port(22, 'a'), port(80, 'b')])]) });
      await ingestScanResult(api.store, { source: 'test', scan: scan([host('127.0.9.1', new Date().toISOString(), [port(22, 'a2')])]) });
    })();
    const msgs = await readSse(res, (all) => all.filter((m) => m.event === 'observation').length >= 4 && all.some((m) => m.event === 'run'));
    await writer;
    const obs = msgs.filter((m) => m.event === 'observation').map((m) => JSON.parse(m.data) as { type: string; port: number; ip: string });
    expect(obs.map((o) => `${o.type}:${o.port}`).sort()).toEqual(['appeared:22', 'appeared:80', 'changed:22', 'gone:80']);
    expect(obs.every((o) => o.ip === '127.0.9.1')).toBe(true);
    const run = msgs.find((m) => m.event === 'run')!;
    expect(JSON.parse(run.data)).toMatchObject({ id: runId, status: 'running', progress: { percent: 40 } });

    // Resume after the first observation event: the others come again, the first does not.
    const first = msgs.find((m) => m.event === 'observation')!;
    const resumed = await api.call('/v1/events?runs=false&types=changed,gone', { auth: api.keys.viewer, headers: { 'last-event-id': first.id! } });
    const again = await readSse(resumed, (all) => all.length >= 2, 5000);
    expect(again.map((m) => (JSON.parse(m.data) as { type: string }).type).sort()).toEqual(['changed', 'gone']);
    expect(again.map((m) => m.id)).not.toContain(first.id);
  }, 180_000);

  it.each([
    ['/v1/events?types=born', 'invalid query field "types": must be a comma-separated list of appeared, changed, gone, reappeared'],
    ['/v1/events?since=yesterday', 'invalid query field "since": Invalid ISO datetime'],
    ['/v1/events?runs=maybe', 'invalid query field "runs": Invalid option: expected one of "true"|"false"'],
  ])('GET %s is refused', async (path, message) => {
    await expectError(await api.call(path, { auth: api.keys.viewer }), 400, 'invalid_input', message);
  });

  it('refuses a malformed Last-Event-ID', async () => {
    await expectError(await api.call('/v1/events', { auth: api.keys.viewer, headers: { 'last-event-id': 'garbage' } }), 400, 'invalid_input', 'Last-Event-ID is not an evt_… id');
  });

  it('needs a viewer key', async () => {
    await expectSecured(api, 'GET', '/v1/events?types=born', 'viewer');
  });
});
