import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeModules } from '../../api/routes/index.ts';
import { storeKinds } from '../helpers/db.ts';
import { expectError, expectSecured, startTestApi, type TestApi } from './helpers.ts';

describe.each(storeKinds)('API keys, agents, errors (%s)', (kind) => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi(kind);
  }, 180_000);
  afterAll(async () => {
    await api?.close();
  });

  it('health answers without a key and names the driver', async () => {
    const res = await api.call('/v1/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', database: kind, version: '0.1.0' });
    expect(res.headers.get('x-request-id')).toMatch(/\S/);
  });

  it('unknown routes and malformed Authorization get the one error body', async () => {
    await expectError(await api.call('/v1/nope'), 404, 'not_found', 'no route GET /v1/nope');
    await expectError(
      await api.call('/v1/apikeys', { headers: { authorization: 'Basic abc' } }),
      401,
      'unauthorized',
      'the Authorization header is not "Bearer <key>"',
    );
  });

  it('creates, lists and revokes API keys (admin); the new key works at once and stops after revocation', async () => {
    const res = await api.call('/v1/apikeys', { method: 'POST', auth: api.keys.admin, json: { role: 'viewer', name: 'dashboard' } });
    expect(res.status).toBe(201);
    const created = (await res.json()) as { key: string; apiKey: { id: string; role: string; name: string; prefix: string } };
    expect(created.key).toMatch(/^plum_k_[A-Za-z0-9_-]{43}$/);
    expect(created.apiKey).toMatchObject({ role: 'viewer', name: 'dashboard', prefix: created.key.slice(0, 12) });

    const list = (await (await api.call('/v1/apikeys', { auth: api.keys.admin })).json()) as { items: { id: string }[] };
    expect(list.items.map((k) => k.id)).toContain(created.apiKey.id);
    expect(JSON.stringify(list)).not.toContain(created.key);

    expect((await api.call('/v1/agents', { auth: created.key })).status).toBe(200);
    const rev = await api.call(`/v1/apikeys/${created.apiKey.id}`, { method: 'DELETE', auth: api.keys.admin });
    expect(rev.status).toBe(200);
    expect(((await rev.json()) as { apiKey: { revokedAt: string | null } }).apiKey.revokedAt).toMatch(/^\d{4}-/);
    await expectError(await api.call('/v1/agents', { auth: created.key }), 401, 'unauthorized', 'API key revoked');
    const withRevoked = (await (await api.call('/v1/apikeys?revoked=true', { auth: api.keys.admin })).json()) as { items: { id: string }[] };
    expect(withRevoked.items.map((k) => k.id)).toContain(created.apiKey.id);
  });

  it.each([
    [{ role: 'root' }, 'invalid body field "role": Invalid option: expected one of "viewer"|"operator"|"admin"'],
    [{}, 'invalid body field "role": Invalid option: expected one of "viewer"|"operator"|"admin"'],
    [{ role: 'viewer', name: '' }, 'invalid body field "name": Too small: expected string to have >=1 characters'],
    [{ role: 'viewer', extra: 1 }, 'invalid body: Unrecognized key: "extra"'],
  ])('POST /v1/apikeys refuses %j', async (json, message) => {
    await expectError(await api.call('/v1/apikeys', { method: 'POST', auth: api.keys.admin, json }), 400, 'invalid_input', message);
  });

  it('refuses a body that is not JSON, and a body over the limit with 413', async () => {
    await expectError(
      await api.call('/v1/apikeys', {
        method: 'POST',
        auth: api.keys.admin,
        body: '{"role":',
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'invalid_input',
      'the request body is not valid JSON',
    );
    await expectError(
      await api.call('/v1/apikeys', {
        method: 'POST',
        auth: api.keys.admin,
        json: { role: 'viewer', name: 'x'.repeat(2 * 1024 * 1024) },
      }),
      413,
      'payload_too_large',
      'request body larger than 1048576 bytes',
    );
  });

  it.each([
    ['/v1/apikeys/nope', 'invalid path field "id": must be a key_… id'],
    ['/v1/apikeys/key_01jd0000000000000000000000', 'no API key key_01jd0000000000000000000000'],
  ])('DELETE %s is refused', async (path, message) => {
    const res = await api.call(path, { method: 'DELETE', auth: api.keys.admin });
    await expectError(res, message.startsWith('no ') ? 404 : 400, message.startsWith('no ') ? 'not_found' : 'invalid_input', message);
  });

  it('every key route needs admin', async () => {
    await expectSecured(api, 'GET', '/v1/apikeys', 'admin');
    await expectSecured(api, 'POST', '/v1/apikeys', 'admin', { role: 'viewer' });
    await expectSecured(api, 'DELETE', '/v1/apikeys/key_01jd0000000000000000000000', 'admin');
    await expectSecured(api, 'POST', '/v1/agents/tokens', 'admin', { agent: 'x' });
    await expectSecured(api, 'DELETE', '/v1/agents/tokens/atok_01jd0000000000000000000000', 'admin');
    await expectSecured(api, 'GET', '/v1/agents', 'viewer');
  });

  it('issues agent tokens bound to one agent; heartbeats show on /v1/agents; revoked tokens are refused', async () => {
    const res = await api.call('/v1/agents/tokens', { method: 'POST', auth: api.keys.admin, json: { agent: 'Edge-1', labels: ['dmz'] } });
    expect(res.status).toBe(201);
    const t = (await res.json()) as { token: string; agent: { id: string; name: string }; agentToken: { id: string } };
    expect(t.token).toMatch(/^plum_a_/);
    expect(t.agent.name).toBe('edge-1');
    const hb = await api.call('/v1/agent/heartbeat', { method: 'POST', auth: t.token, json: { currentJobId: null, version: '1.2.3' } });
    expect(hb.status).toBe(200);
    const agents = (await (await api.call('/v1/agents', { auth: api.keys.viewer })).json()) as {
      items: { name: string; lastHeartbeatAt: string | null; version: string | null }[];
    };
    const edge = agents.items.find((a) => a.name === 'edge-1');
    expect(edge?.version).toBe('1.2.3');
    expect(edge?.lastHeartbeatAt).toMatch(/^\d{4}-/);

    await api.call(`/v1/agents/tokens/${t.agentToken.id}`, { method: 'DELETE', auth: api.keys.admin });
    await expectError(await api.call('/v1/agent/heartbeat', { method: 'POST', auth: t.token, json: {} }), 401, 'unauthorized', 'agent token revoked');
  });

  it('lists agent tokens (admin) and disables/enables an agent', async () => {
    const tokens = (await (await api.call('/v1/agents/tokens?revoked=true', { auth: api.keys.admin })).json()) as {
      items: { agentId: string; revokedAt: string | null }[];
    };
    expect(tokens.items.filter((t) => t.agentId === api.agents.a.id)).toHaveLength(2);
    expect(JSON.stringify(tokens)).not.toContain(api.agents.a.token);
    const live = (await (await api.call('/v1/agents/tokens', { auth: api.keys.admin })).json()) as { items: { revokedAt: string | null }[] };
    expect(live.items.every((t) => t.revokedAt === null)).toBe(true);

    const off = await api.call(`/v1/agents/${api.agents.b.id}`, { method: 'PATCH', auth: api.keys.admin, json: { disabled: true } });
    expect(((await off.json()) as { agent: { disabledAt: string | null } }).agent.disabledAt).toMatch(/^\d{4}-/);
    await expectError(await api.call('/v1/agent/heartbeat', { method: 'POST', auth: api.agents.b.token, json: {} }), 401, 'unauthorized', 'agent disabled');
    await api.call(`/v1/agents/${api.agents.b.id}`, { method: 'PATCH', auth: api.keys.admin, json: { disabled: false } });
    expect((await api.call('/v1/agent/heartbeat', { method: 'POST', auth: api.agents.b.token, json: {} })).status).toBe(200);

    await expectError(
      await api.call(`/v1/agents/${api.agents.b.id}`, { method: 'PATCH', auth: api.keys.admin, json: { disabled: 'yes' } }),
      400,
      'invalid_input',
      'invalid body field "disabled": Invalid input: expected boolean, received string',
    );
    await expectError(
      await api.call('/v1/agents/agent_01jd0000000000000000000000', { method: 'PATCH', auth: api.keys.admin, json: { disabled: true } }),
      404,
      'not_found',
      'no agent agent_01jd0000000000000000000000',
    );
    await expectSecured(api, 'GET', '/v1/agents/tokens', 'admin');
    await expectSecured(api, 'PATCH', `/v1/agents/${api.agents.b.id}`, 'admin', { disabled: true });
  });

  it('agent routes refuse API keys, missing and revoked tokens', async () => {
    await expectError(await api.call('/v1/agent/heartbeat', { method: 'POST', json: {} }), 401, 'unauthorized', 'missing agent token');
    await expectError(
      await api.call('/v1/agent/heartbeat', { method: 'POST', auth: api.keys.admin, json: {} }),
      403,
      'forbidden',
      'this route needs an agent token, not an API key',
    );
    await expectError(
      await api.call('/v1/agent/heartbeat', { method: 'POST', auth: api.agents.revokedToken, json: {} }),
      401,
      'unauthorized',
      'agent token revoked',
    );
    await expectError(await api.call('/v1/agent/heartbeat', { method: 'POST', auth: 'plum_a_bogus', json: {} }), 401, 'unauthorized', 'invalid agent token');
  });

  it.each([
    [{ currentJobId: 'nope' }, 'invalid body field "currentJobId": must be a job_… id'],
    [{ version: '' }, 'invalid body field "version": Too small: expected string to have >=1 characters'],
  ])('heartbeat refuses %j', async (json, message) => {
    await expectError(await api.call('/v1/agent/heartbeat', { method: 'POST', auth: api.agents.a.token, json }), 400, 'invalid_input', message);
  });

  it('serves the OpenAPI document and the docs page', async () => {
    const doc = (await (await api.call('/openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
      components: { securitySchemes: object };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/apikeys', '/v1/agent/jobs/{jobId}/result', '/v1/events']));
    expect(doc.components.securitySchemes).toHaveProperty('bearer');
    // The reference page loads its scripts from this server (no CDN); its own script points at the document.
    const page = await api.call('/docs');
    expect(page.status).toBe(200);
    const html = await page.text();
    const scripts = [...html.matchAll(/<script src="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(scripts.length).toBeGreaterThan(0);
    expect(html).not.toMatch(/src="https?:/);
    const init = await Promise.all(scripts.map(async (src) => (await api.call(src)).text()));
    expect(init.some((js) => js.includes('/openapi.json'))).toBe(true);
  });
});

describe('OpenAPI document', () => {
  it('declares bearer security and the 401/403 error responses on every protected operation', async () => {
    const api = await startTestApi('pglite');
    try {
      const doc = (await (await api.call('/openapi.json')).json()) as {
        paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>>;
      };
      const ops = Object.entries(doc.paths).flatMap(([p, methods]) => Object.entries(methods).map(([m, op]) => ({ id: `${m.toUpperCase()} ${p}`, op })));
      // Every route module is an operation of the document, but the predecessor's three /bot_api routes (its own
      // protocol, behind PLUM_LEGACY_BOT_API).
      expect(ops.length).toBe(routeModules.length - 3);
      expect(Object.keys(doc.paths).some((p) => p.startsWith('/bot_api'))).toBe(false);
      for (const { id, op } of ops) {
        // Health and readiness probes are open (they answer states only); /metrics is protected like any read.
        if (['GET /v1/health', 'GET /healthz', 'GET /readyz'].includes(id)) continue;
        expect(op.security, id).toEqual([{ bearer: [] }]);
        expect(Object.keys(op.responses), id).toEqual(expect.arrayContaining(['401', '403']));
      }
    } finally {
      await api.close();
    }
  }, 180_000);
});
