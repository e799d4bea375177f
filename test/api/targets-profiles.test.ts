import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeKinds } from '../helpers/db.ts';
import { expectError, expectSecured, startTestApi, startTestApiOn, type TestApi } from './helpers.ts';

interface Target {
  id: string;
  value: string;
  kind: string;
  labels: string[];
  exclude: boolean;
  note: string | null;
}

describe.each(storeKinds)('targets and profiles (%s)', (kind) => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi(kind);
  }, 180_000);
  afterAll(async () => {
    await api?.close();
  });

  it('creates, lists, shows, updates and deletes targets', async () => {
    const res = await api.call('/v1/targets', {
      method: 'POST',
      auth: api.keys.operator,
      json: { values: ['127.0.0.0/30', 'WWW.Example.test'], labels: ['lab'] },
    });
    expect(res.status).toBe(201);
    const created = (await res.json()) as { added: Target[]; unchanged: Target[] };
    expect(created.added.map((t) => [t.value, t.kind])).toEqual([
      ['127.0.0.0/30', 'cidr'],
      ['www.example.test', 'fqdn'],
    ]);
    const again = (await (await api.call('/v1/targets', { method: 'POST', auth: api.keys.operator, json: { values: ['127.0.0.0/30'] } })).json()) as {
      added: Target[];
      unchanged: Target[];
    };
    expect(again.added).toEqual([]);
    expect(again.unchanged.map((t) => t.value)).toEqual(['127.0.0.0/30']);

    const list = (await (await api.call('/v1/targets?label=lab', { auth: api.keys.viewer })).json()) as { items: Target[] };
    expect(list.items.map((t) => t.value).sort()).toEqual(['127.0.0.0/30', 'www.example.test']);
    const id = created.added[0]!.id;
    const one = (await (await api.call(`/v1/targets/${id}`, { auth: api.keys.viewer })).json()) as { target: Target };
    expect(one.target.value).toBe('127.0.0.0/30');

    const upd = await api.call(`/v1/targets/${id}`, { method: 'PATCH', auth: api.keys.operator, json: { labels: ['dmz'], note: 'lab net' } });
    expect(upd.status).toBe(200);
    expect(((await upd.json()) as { target: Target }).target).toMatchObject({ labels: ['dmz'], note: 'lab net' });

    const del = await api.call(`/v1/targets/${id}`, { method: 'DELETE', auth: api.keys.operator });
    expect(del.status).toBe(200);
    await expectError(await api.call(`/v1/targets/${id}`, { auth: api.keys.viewer }), 404, 'not_found', `no target ${id}`);
  });

  it('bulk import reports accepted, duplicate and invalid entries, storing the valid ones', async () => {
    const body = '# perimeter\n127.0.1.1\n127.0.1.0/29\nnot a target!\n127.0.1.1\n\n127.0.2.1-127.0.2.9\n';
    const res = await api.call('/v1/targets/import?label=bulk', { method: 'POST', auth: api.keys.operator, body, headers: { 'content-type': 'text/plain' } });
    expect(res.status).toBe(200);
    const r = (await res.json()) as {
      overlaps: unknown[];
      accepted: Target[];
      duplicate: { line: number; value: string }[];
      invalid: { line: number; value: string; error: string }[];
    };
    expect(r.accepted.map((t) => t.value)).toEqual(['127.0.1.1', '127.0.1.0/29', '127.0.2.1-127.0.2.9']);
    expect(r.duplicate).toEqual([{ line: 5, value: '127.0.1.1' }]);
    expect(r.invalid).toHaveLength(1);
    expect(r.invalid[0]).toMatchObject({ line: 4, value: 'not a target!' });
    expect(r.invalid[0]!.error).toMatch(/not a target!/);
    expect(r.overlaps).toEqual([{ target: '127.0.1.0/29', overlaps: '127.0.1.1', shared: '1' }]);
    // A second import of the same list: everything is a duplicate, nothing is added.
    const again = (await (
      await api.call('/v1/targets/import', { method: 'POST', auth: api.keys.operator, body: '127.0.1.1\n', headers: { 'content-type': 'text/plain' } })
    ).json()) as { accepted: Target[]; duplicate: unknown[] };
    expect(again.accepted).toEqual([]);
    expect(again.duplicate).toEqual([{ line: 1, value: '127.0.1.1' }]);
    const list = (await (await api.call('/v1/targets?label=bulk', { auth: api.keys.viewer })).json()) as { items: Target[] };
    expect(list.items).toHaveLength(3);
  });

  it.each([
    [{ values: [] }, 'invalid body field "values": Too small: expected array to have >=1 items'],
    [{ values: 'x' }, 'invalid body field "values": Invalid input: expected array, received string'],
    [{ values: ['127.0.0.1'], exclude: 'yes' }, 'invalid body field "exclude": Invalid input: expected boolean, received string'],
    [{ values: ['127.0.0.1'], colour: 'red' }, 'invalid body: Unrecognized key: "colour"'],
  ])('POST /v1/targets refuses %j', async (json, message) => {
    await expectError(await api.call('/v1/targets', { method: 'POST', auth: api.keys.operator, json }), 400, 'invalid_input', message);
  });

  it('POST /v1/targets is all-or-nothing: one invalid value stores nothing', async () => {
    const res = await api.call('/v1/targets', { method: 'POST', auth: api.keys.operator, json: { values: ['127.0.9.1', '300.1.1.1'] } });
    const err = await expectError(res, 400, 'invalid_input');
    expect(err.message).toMatch(/300\.1\.1\.1/);
    const list = (await (await api.call('/v1/targets', { auth: api.keys.viewer })).json()) as { items: Target[] };
    expect(list.items.map((t) => t.value)).not.toContain('127.0.9.1');
  });

  it.each([
    ['GET', '/v1/targets/tgt_x', undefined, 'invalid path field "id": must be a tgt_… id'],
    ['GET', '/v1/targets?exclude=maybe', undefined, 'invalid query field "exclude": Invalid option: expected one of "true"|"false"'],
    ['PATCH', '/v1/targets/tgt_01jd0000000000000000000000', {}, 'invalid body: give labels or note'],
  ])('%s %s is refused', async (method, path, json, message) => {
    await expectError(await api.call(path, { method, auth: api.keys.operator, ...(json ? { json } : {}) }), 400, 'invalid_input', message);
  });

  it('import refuses a body that is not text/plain', async () => {
    await expectError(
      await api.call('/v1/targets/import', { method: 'POST', auth: api.keys.operator, json: { values: [] } }),
      400,
      'invalid_input',
      'send the targets as text/plain, one per line',
    );
  });

  it('target and profile routes check roles', async () => {
    await expectSecured(api, 'GET', '/v1/targets', 'viewer');
    await expectSecured(api, 'POST', '/v1/targets', 'operator', { values: ['127.0.0.1'] });
    await expectSecured(api, 'POST', '/v1/targets/import', 'operator');
    await expectSecured(api, 'PATCH', '/v1/targets/tgt_01jd0000000000000000000000', 'operator', { note: 'x' });
    await expectSecured(api, 'DELETE', '/v1/targets/tgt_01jd0000000000000000000000', 'operator');
    await expectSecured(api, 'GET', '/v1/profiles', 'viewer');
    await expectSecured(api, 'GET', '/v1/profiles/banner', 'viewer');
    await expectSecured(api, 'POST', '/v1/profiles', 'operator', { name: 'x', tcpPorts: '22' });
    await expectSecured(api, 'PUT', '/v1/profiles/banner', 'operator', { tcpPorts: '22' });
    await expectSecured(api, 'DELETE', '/v1/profiles/banner', 'operator');
  });

  it('profiles: built-ins listed; create, replace, disable, delete; schedule hook called on each change', async () => {
    const changed: string[] = [];
    const local = {
      ...(await startTestApiOn(api, {
        profileChanged: async (id) => {
          changed.push(id);
        },
      })),
      keys: api.keys,
    };
    try {
      const list = (await (await local.call('/v1/profiles', { auth: local.keys.viewer })).json()) as { items: { name: string }[] };
      expect(list.items.map((p) => p.name)).toEqual(['banner', 'web']);
      const res = await local.call('/v1/profiles', {
        method: 'POST',
        auth: local.keys.operator,
        json: { name: 'ssh', tcpPorts: '22,2222', every: '6h', priority: 3 },
      });
      expect(res.status).toBe(201);
      const p = ((await res.json()) as { profile: { id: string; name: string; tcpPorts: string; every: string; priority: number; enabled: boolean } }).profile;
      expect(p).toMatchObject({ name: 'ssh', tcpPorts: '22,2222', every: '6h', priority: 3, enabled: true });
      await expectError(
        await local.call('/v1/profiles', { method: 'POST', auth: local.keys.operator, json: { name: 'ssh', tcpPorts: '22' } }),
        409,
        'conflict',
        'profile ssh already exists',
      );

      const put = await local.call('/v1/profiles/ssh', { method: 'PUT', auth: local.keys.operator, json: { tcpPorts: '22', every: '1d', enabled: false } });
      expect(put.status).toBe(200);
      expect(((await put.json()) as { profile: object }).profile).toMatchObject({ id: p.id, tcpPorts: '22', every: '1d', enabled: false });
      const shown = (await (await local.call(`/v1/profiles/${p.id}`, { auth: local.keys.viewer })).json()) as { profile: { name: string } };
      expect(shown.profile.name).toBe('ssh');
      expect((await local.call('/v1/profiles/ssh', { method: 'DELETE', auth: local.keys.operator })).status).toBe(200);
      await expectError(await local.call('/v1/profiles/ssh', { auth: local.keys.viewer }), 404, 'not_found', 'no profile named ssh');
      expect(changed).toEqual([p.id, p.id, p.id]);
    } finally {
      await local.close();
    }
  }, 180_000);

  it.each([
    [{ name: 'Bad Name!', tcpPorts: '22' }, /^invalid profile name: /],
    [{ name: 'x', tcpPorts: '99999' }, /^invalid profile tcpPorts: /],
    [{ name: 'x', tcpPorts: '22', nmapArgs: '-oN /tmp/x' }, /^invalid profile nmapArgs: /],
    [{ name: 'x', tcpPorts: '22', priority: 9 }, 'invalid body field "priority": Too big: expected number to be <=4'],
    [{ name: 'x' }, 'invalid profile tcpPorts: empty TCP ports list'],
    [{ name: 'x', trigger: 'http_title.lk:"index of" AND (port:80' }, 'invalid profile trigger: unclosed parenthesis at position 29'],
    [{ name: 'x', trigger: 'port:80', every: '1d' }, 'invalid profile every: a trigger profile has no schedule: it runs when its query matches a new finding'],
    [{ name: 'x', trigger: 'port:80', tcpPorts: '80' }, 'invalid profile tcpPorts: a trigger profile has no ports: it scans the port of each finding'],
    [{ name: 'x', tcpPorts: '22', scouting: { rate: 0 } }, /^invalid body field "scouting.rate"/],
    [{ name: 'x', tcpPorts: '22', scouting: { rate: 10, extra: '--echo' } }, /^invalid body field "scouting"/],
    [{ name: 'x', tcpPorts: '22', udpPorts: '53', scouting: { rate: 10 } }, /^invalid profile scouting: a scouting profile scans TCP ports only/],
  ])('POST /v1/profiles refuses %j', async (json, message) => {
    await expectError(await api.call('/v1/profiles', { method: 'POST', auth: api.keys.operator, json }), 400, 'invalid_input', message);
  });

  it('a TLS profile: scanner sslscan is stored, shown, and kept by a PUT that does not name it', async () => {
    const res = await api.call('/v1/profiles', { method: 'POST', auth: api.keys.operator, json: { name: 'tls', tcpPorts: '443,8443', scanner: 'sslscan' } });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { profile: object }).profile).toMatchObject({ name: 'tls', scanner: 'sslscan', scripts: [], nmapArgs: [] });
    const put = await api.call('/v1/profiles/tls', { method: 'PUT', auth: api.keys.operator, json: { tcpPorts: '443' } });
    expect(((await put.json()) as { profile: object }).profile).toMatchObject({ tcpPorts: '443', scanner: 'sslscan' });
    const banner = (await (await api.call('/v1/profiles/banner', { auth: api.keys.viewer })).json()) as { profile: { scanner: string } };
    expect(banner.profile.scanner).toBe('nmap');
    expect((await api.call('/v1/profiles/tls', { method: 'DELETE', auth: api.keys.operator })).status).toBe(200);
  });

  it.each([
    [{ name: 'x', tcpPorts: '443', scanner: 'zmap' }, 'invalid profile scanner: unknown scanner "zmap"'],
    [{ name: 'x', tcpPorts: '443', scanner: 'sslscan', scripts: 'ssl-cert' }, 'invalid profile scripts: a TLS profile (scanner sslscan) takes no scripts'],
    [{ name: 'x', tcpPorts: '443', scanner: 'sslscan', nmapArgs: '-T4' }, 'invalid profile nmapArgs: a TLS profile (scanner sslscan) takes no nmapArgs'],
  ])('POST /v1/profiles refuses the scanner field %j', async (json, message) => {
    await expectError(await api.call('/v1/profiles', { method: 'POST', auth: api.keys.operator, json }), 400, 'invalid_input', message);
    await expectError(await api.call('/v1/profiles/x', { auth: api.keys.viewer }), 404, 'not_found');
  });

  it('trigger profiles: created with their query and no ports, schedule or targets; only by an operator', async () => {
    await expectSecured(api, 'POST', '/v1/profiles', 'operator', { name: 'listing-sec', trigger: 'http_title.lk:"index of"' });
    const res = await api.call('/v1/profiles', {
      method: 'POST',
      auth: api.keys.operator,
      json: { name: 'listing', trigger: 'http_title.lk:"index of"', scripts: 'http-ls' },
    });
    expect(res.status).toBe(201);
    const p = ((await res.json()) as { profile: Record<string, unknown> }).profile;
    expect(p).toMatchObject({ name: 'listing', trigger: 'http_title.lk:"index of"', tcpPorts: '', scripts: ['http-ls'] });
    const shown = (await (await api.call('/v1/profiles/listing', { auth: api.keys.viewer })).json()) as { profile: Record<string, unknown> };
    expect(shown.profile.trigger).toBe('http_title.lk:"index of"');
    // Replacing it keeps it a trigger profile only when the body says so; a scheduled profile needs ports again.
    await expectError(
      await api.call('/v1/profiles/listing', { method: 'PUT', auth: api.keys.operator, json: { trigger: 'port:80 (' } }),
      400,
      'invalid_input',
      'invalid profile trigger: query ends where a term was expected at position 9',
    );
    const put = await api.call('/v1/profiles/listing', { method: 'PUT', auth: api.keys.operator, json: { trigger: 'tag:svc:web', scripts: 'http-title' } });
    expect(((await put.json()) as { profile: object }).profile).toMatchObject({ trigger: 'tag:svc:web', scripts: ['http-title'] });
    expect((await api.call('/v1/profiles/listing', { method: 'DELETE', auth: api.keys.operator })).status).toBe(200);
  });

  it("a profile's scouting stage is created, shown, and removed by a replace without it", async () => {
    const res = await api.call('/v1/profiles', {
      method: 'POST',
      auth: api.keys.operator,
      json: { name: 'wide', tcpPorts: '22,80', scouting: { rate: 5000 } },
    });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { profile: object }).profile).toMatchObject({ name: 'wide', scouting: { rate: 5000 } });
    const put = await api.call('/v1/profiles/wide', { method: 'PUT', auth: api.keys.operator, json: { tcpPorts: '22,80' } });
    expect(((await put.json()) as { profile: object }).profile).toMatchObject({ name: 'wide', scouting: null });
    await expectSecured(api, 'POST', '/v1/profiles', 'operator', { name: 'wide2', tcpPorts: '22', scouting: { rate: 10 } });
  }, 60_000);

  it('PUT cannot rename a profile', async () => {
    await expectError(
      await api.call('/v1/profiles/banner', { method: 'PUT', auth: api.keys.operator, json: { name: 'other', tcpPorts: '22' } }),
      400,
      'invalid_input',
      'the body names profile other, the path banner',
    );
  });
});
