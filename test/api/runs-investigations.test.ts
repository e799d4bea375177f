import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedServices } from '../../workers/serve-services.ts';
import { silentLogger } from '../../core/log.ts';
import { loadScoreConfig, scoreFileOf } from '../../core/score.ts';
import { explainHost } from '../../store/rules/index.ts';
import { addNseScript } from '../../store/repos/nse-scripts.ts';
import { addTargets, removeTargets } from '../../store/repos/targets.ts';
import { storeKinds } from '../helpers/db.ts';
import { expectError, expectSecured, startTestApi, startTestApiOn, type TestApi } from './helpers.ts';

/** A banner service on a loopback address inside the declared perimeter. */
const IP = '127.0.10.1';
let server: net.Server;
let servicePort: number;

beforeAll(async () => {
  server = net.createServer((s) => s.end('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n'));
  await new Promise<void>((resolve) => server.listen(0, IP, resolve));
  servicePort = (server.address() as net.AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

interface Investigation {
  investigation: { id: string; status: string; kind: string; targets: string[] };
  jobCounts: Record<string, number>;
  results: { ip: string; port: number; banner: string | null }[];
  events: { type: string; port: number }[];
}

describe.each(storeKinds)('runs and investigations (%s)', (kind) => {
  let api: TestApi;
  let services: ReturnType<typeof embeddedServices>;
  beforeAll(async () => {
    // The embedded runner of `plum serve`, over the test's own store.
    let holder: { store: TestApi['store']; config: TestApi['config'] } | undefined;
    const lazy = {
      startInvestigation: (i: Parameters<NonNullable<typeof services.api.startInvestigation>>[0]) => services.api.startInvestigation!(i),
      cancelRun: (id: string) => services.api.cancelRun!(id),
    };
    api = await startTestApi(kind, { services: lazy });
    holder = { store: api.store, config: api.config };
    services = embeddedServices({ ...holder, log: silentLogger, maxInFlight: 2 });
    await addTargets(api.store, ['127.0.10.0/28']);
  }, 180_000);
  afterAll(async () => {
    await services?.close();
    await api?.close();
  });

  async function waitDone(id: string, timeoutMs = 60_000): Promise<Investigation> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = (await (await api.call(`/v1/investigations/${id}`, { auth: api.keys.viewer })).json()) as Investigation;
      if (!['queued', 'running'].includes(r.investigation.status) || Date.now() > deadline) return r;
      await new Promise((res) => setTimeout(res, 250));
    }
  }

  it('POST /v1/investigations returns an id at once; GET shows status, results, events; the report renders', async () => {
    // Start just after a second begins: nmap's scan times are whole seconds, so the scan is then
    // stamped before the run's recorded start (the report's period must still include it).
    await new Promise((res) => setTimeout(res, 1000 - (Date.now() % 1000) + 20));
    const res = await api.call('/v1/investigations', {
      method: 'POST',
      auth: api.keys.operator,
      json: { targets: [IP], ports: String(servicePort), scripts: ['plum-banner'], reason: 'incident 42' },
    });
    const started = (await res.json()) as { id: string; status: string; links: { self: string } };
    expect(res.status, JSON.stringify(started)).toBe(202);
    expect(started.id).toMatch(/^run_/);
    expect(started.links.self).toBe(`/v1/investigations/${started.id}`);

    const done = await waitDone(started.id);
    expect(done.investigation).toMatchObject({ id: started.id, kind: 'investigation', status: 'succeeded', targets: [IP] });
    expect(done.jobCounts).toEqual({ succeeded: 1 });
    expect(done.results.map((r) => [r.ip, r.port])).toEqual([[IP, servicePort]]);
    expect(done.results[0]!.banner).toMatch(/^SSH-2\.0-OpenSSH_9\.2p1/);
    expect(done.events.map((e) => `${e.type}:${e.port}`)).toEqual([`appeared:${servicePort}`]);

    const runs = (await (await api.call('/v1/runs?kind=investigation', { auth: api.keys.viewer })).json()) as { items: { id: string; status: string }[] };
    expect(runs.items.map((r) => r.id)).toContain(started.id);
    const run = (await (await api.call(`/v1/runs/${started.id}`, { auth: api.keys.viewer })).json()) as {
      run: { status: string };
      jobs: { status: string; targets: string[] }[];
    };
    expect(run.run.status).toBe('succeeded');
    expect(run.jobs.map((j) => j.targets)).toEqual([[IP]]);

    const report = await api.call(`/v1/investigations/${started.id}/report`, { auth: api.keys.viewer });
    expect(report.status).toBe(200);
    expect(report.headers.get('content-type')).toMatch(/text\/markdown/);
    const md = (await report.text()).replace(/\\_/g, '_');
    expect(md).toContain(`Investigation ${started.id}`);
    expect(md).toContain(IP);
    // The period covers the run: what it found is in this period, not in the previous one.
    const model = (await (await api.call(`/v1/investigations/${started.id}/report?format=json`, { auth: api.keys.viewer })).json()) as {
      period: { from: string; to: string };
      totals: { hosts: number; ports: number };
      changes: Record<string, { port: number }[]>;
      hosts: { firstSeen: string; score: number }[];
    };
    expect(model.totals).toMatchObject({ hosts: 1, ports: 1 });
    // The host score is scoreHost with the configured weights, as `plum report` and `plum explain` give it.
    expect(model.hosts[0]!.score).toBe((await explainHost(api.store, IP, await loadScoreConfig(scoreFileOf(api.config)))).score);
    expect(model.changes.appeared!.map((c) => c.port)).toEqual([servicePort]);
    expect(new Date(model.period.from).getTime()).toBeLessThanOrEqual(new Date(model.hosts[0]!.firstSeen).getTime());

    await expectError(
      await api.call(`/v1/runs/${started.id}/cancel`, { method: 'POST', auth: api.keys.operator }),
      409,
      'conflict',
      `run ${started.id} is already succeeded`,
    );
  }, 180_000);

  it('POST /v1/investigations runs a custom NSE script (plum nse add), judged by its declared categories', async () => {
    const lua = (categories: string) =>
      `categories = {${categories}}\nportrule = function(host, port) return true end\naction = function(host, port) return "site-inv-output" end\n`;
    await addNseScript(api.store, { name: 'site-inv', content: lua('"safe"') });
    await addNseScript(api.store, { name: 'site-inv-brute', content: lua('"brute"') });
    const res = await api.call('/v1/investigations', {
      method: 'POST',
      auth: api.keys.operator,
      json: { targets: [IP], ports: String(servicePort), scripts: ['site-inv'] },
    });
    const started = (await res.json()) as { id: string };
    expect(res.status, JSON.stringify(started)).toBe(202);
    expect((await waitDone(started.id)).investigation.status).toBe('succeeded');
    const [run] = await api.store.query<{ progress: { customScripts?: { name: string }[] } }>('select progress from runs where id = $1', [started.id]);
    expect(run!.progress.customScripts?.map((c) => c.name)).toEqual(['site-inv']);
    await expectError(
      await api.call('/v1/investigations', {
        method: 'POST',
        auth: api.keys.operator,
        json: { targets: [IP], ports: String(servicePort), scripts: ['site-inv-brute'] },
      }),
      422,
      'unsafe_argument',
      /^refused NSE script "site-inv-brute": it is in the brute category/,
    );
  }, 120_000);

  it('refuses targets outside the perimeter with 422, naming them, and starts nothing', async () => {
    const before = (await (await api.call('/v1/runs', { auth: api.keys.viewer })).json()) as { items: unknown[] };
    const res = await api.call('/v1/investigations', {
      method: 'POST',
      auth: api.keys.operator,
      json: { targets: [IP, '127.0.11.5', '127.0.12.0/30'], ports: '22' },
    });
    const err = await expectError(res, 422, 'out_of_scope');
    expect(err.message).toContain('127.0.11.5 (outside the perimeter)');
    expect(err.message).toContain('127.0.12.0/30');
    expect(err.message).not.toContain(`${IP} (`);
    const after = (await (await api.call('/v1/runs', { auth: api.keys.viewer })).json()) as { items: unknown[] };
    expect(after.items).toHaveLength(before.items.length);
  });

  it('cancels a running investigation', async () => {
    // 256 addresses x 65535 ports keeps nmap busy for minutes: the cancel always lands while it runs.
    await addTargets(api.store, ['127.0.16.0/24']);
    const res = await api.call('/v1/investigations', {
      method: 'POST',
      auth: api.keys.operator,
      json: { targets: ['127.0.16.0/24'], ports: '1-65535' },
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const cancel = await api.call(`/v1/runs/${id}/cancel`, { method: 'POST', auth: api.keys.operator });
    const body = (await cancel.json()) as { run: { status: string } };
    expect(cancel.status, JSON.stringify(body)).toBe(202);
    expect(body.run.status).toBe('cancelled');
    await removeTargets(api.store, ['127.0.16.0/24']);
  }, 180_000);

  it.each([
    [{ targets: [] }, 400, 'invalid_input', 'invalid body field "targets": Too small: expected array to have >=1 items'],
    [{ targets: [IP], ports: '70000' }, 400, 'invalid_input', 'port 70000 out of range in ports "70000"'],
    [{ targets: [IP], scripts: ['vuln'] }, 400, 'invalid_input', '"vuln" is an nmap script category, not a script'],
    [{ targets: [IP], scripts: ['../../etc/passwd'] }, 400, 'invalid_input', 'invalid NSE script name "../../etc/passwd"'],
    [{ targets: ['not a target!'] }, 422, 'out_of_scope', /not a target!/],
    [{ targets: [IP], bogus: 1 }, 400, 'invalid_input', 'invalid body: Unrecognized key: "bogus"'],
  ])('POST /v1/investigations refuses %j', async (json, status, code, message) => {
    await expectError(await api.call('/v1/investigations', { method: 'POST', auth: api.keys.operator, json }), status, code, message);
  });

  it.each([
    ['/v1/runs?status=done', 'invalid query field "status": Invalid option: expected one of "queued"|"running"|"succeeded"|"failed"|"cancelled"|"partial"'],
    ['/v1/runs?limit=0', 'invalid query field "limit": Too small: expected number to be >=1'],
    ['/v1/runs/abc', 'invalid path field "id": must be a run_… id'],
    ['/v1/investigations/abc', 'invalid path field "id": must be a run_… id'],
  ])('GET %s is refused', async (path, message) => {
    await expectError(await api.call(path, { auth: api.keys.viewer }), 400, 'invalid_input', message);
  });

  it('unknown runs and investigations are 404', async () => {
    await expectError(
      await api.call('/v1/runs/run_01jd0000000000000000000000', { auth: api.keys.viewer }),
      404,
      'not_found',
      'no run run_01jd0000000000000000000000',
    );
    await expectError(
      await api.call('/v1/investigations/run_01jd0000000000000000000000', { auth: api.keys.viewer }),
      404,
      'not_found',
      'no investigation run_01jd0000000000000000000000',
    );
  });

  it('roles: viewers read, operators start and cancel', async () => {
    await expectSecured(api, 'GET', '/v1/runs', 'viewer');
    await expectSecured(api, 'GET', '/v1/runs/run_01jd0000000000000000000000', 'viewer');
    await expectSecured(api, 'POST', '/v1/runs/run_01jd0000000000000000000000/cancel', 'operator');
    await expectSecured(api, 'POST', '/v1/investigations', 'operator', { targets: [IP] });
    await expectSecured(api, 'GET', '/v1/investigations/run_01jd0000000000000000000000', 'viewer');
    await expectSecured(api, 'GET', '/v1/investigations/run_01jd0000000000000000000000/report', 'viewer');
  });

  it('with the embedded scheduler, creating a profile over the API schedules it at once', async () => {
    const sched = embeddedServices({ store: api.store, config: api.config, log: silentLogger, schedulerIntervalMs: 3_600_000 });
    const local = await startTestApiOn(api, sched.api);
    try {
      const res = await local.call('/v1/profiles', {
        method: 'POST',
        auth: api.keys.operator,
        json: { name: 'lab-ssh', tcpPorts: String(servicePort), scripts: ['plum-banner'], every: '1d' },
      });
      expect(res.status).toBe(201);
      const deadline = Date.now() + 60_000;
      let run: { status: string; profile: string | null } | undefined;
      while (Date.now() < deadline) {
        const list = (await (await local.call('/v1/runs?kind=profile&profile=lab-ssh', { auth: api.keys.viewer })).json()) as {
          items: { status: string; profile: string | null }[];
        };
        run = list.items[0];
        if (run && !['queued', 'running'].includes(run.status)) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(run).toMatchObject({ profile: 'lab-ssh', status: 'succeeded' });
    } finally {
      await local.close();
      await sched.close();
    }
  }, 180_000);

  it('without a runner the server says so (503) instead of pretending', async () => {
    const bare = await startTestApiOn(api, {});
    try {
      await expectError(
        await bare.call('/v1/investigations', { method: 'POST', auth: api.keys.operator, json: { targets: [IP] } }),
        503,
        'unavailable',
        'this server cannot start investigations',
      );
    } finally {
      await bare.close();
    }
  }, 180_000);
});
