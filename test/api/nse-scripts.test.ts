import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpScriptSource } from '../../activities/nse-source.ts';
import { MAX_CUSTOM_SCRIPT_BYTES, sha256Hex } from '../../core/nmap/custom-scripts.ts';
import { saveProfile } from '../../store/repos/profiles.ts';
import { storeKinds } from '../helpers/db.ts';
import { expectError, startTestApi, type TestApi } from './helpers.ts';

/* /v1/nse-scripts (admin to change, viewer to list) and the agents' fetch by hash: happy, bad input, security. */

const lua = (out: string, categories = '"safe"') =>
  `categories = {${categories}}\nportrule = function(host, port) return true end\naction = function(host, port) return "${out}" end\n`;

describe.each(storeKinds)('/v1/nse-scripts (%s)', (kind) => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi(kind);
  }, 60_000);
  afterAll(async () => {
    await api?.close();
  });

  describe('happy path', () => {
    it('an admin adds and replaces a script, a viewer lists it without content, an agent fetches it by hash', async () => {
      const add = await api.call('/v1/nse-scripts', { method: 'POST', auth: api.keys.admin, json: { name: 'site-check', content: lua('one') } });
      expect(add.status).toBe(201);
      const { script } = (await add.json()) as { script: { sha256: string; categories: string[]; createdBy: string } };
      expect(script).toMatchObject({ name: 'site-check', sha256: sha256Hex(lua('one')), categories: ['safe'], createdBy: expect.stringMatching(/^key:key_/) });

      const replaced = await api.call('/v1/nse-scripts', {
        method: 'POST',
        auth: api.keys.admin,
        json: { name: 'site-check', content: lua('two'), replace: true },
      });
      expect(replaced.status).toBe(200);
      const now = ((await replaced.json()) as { script: { sha256: string } }).script;
      expect(now.sha256).toBe(sha256Hex(lua('two')));

      const list = await api.call('/v1/nse-scripts', { auth: api.keys.viewer });
      expect(list.status).toBe(200);
      const body = await list.text();
      expect(JSON.parse(body).items).toEqual([expect.objectContaining({ name: 'site-check', sha256: now.sha256 })]);
      expect(body).not.toContain('portrule');

      const fetched = await api.call(`/v1/agent/nse-scripts/${now.sha256}`, { auth: api.agents.a.token });
      expect(fetched.status).toBe(200);
      expect(fetched.headers.get('x-plum-nse-name')).toBe('site-check');
      expect(await fetched.text()).toBe(lua('two'));
      // The agent's own client against the real route.
      const source = httpScriptSource({ serverUrl: api.server.url, token: api.agents.b.token });
      expect((await source({ name: 'site-check', sha256: now.sha256, categories: ['safe'] })).toString('utf8')).toBe(lua('two'));
    });

    it('an admin deletes a script no profile names', async () => {
      await api.call('/v1/nse-scripts', { method: 'POST', auth: api.keys.admin, json: { name: 'site-gone', content: lua('gone') } });
      const del = await api.call('/v1/nse-scripts/site-gone', { method: 'DELETE', auth: api.keys.admin });
      expect(del.status).toBe(200);
      expect(((await del.json()) as { script: { name: string } }).script.name).toBe('site-gone');
      await expectError(await api.call('/v1/nse-scripts/site-gone', { method: 'DELETE', auth: api.keys.admin }), 404, 'not_found');
    });
  });

  describe('bad input', () => {
    const post = (json: unknown) => api.call('/v1/nse-scripts', { method: 'POST', auth: api.keys.admin, json });
    it('refuses a stock name, a reserved name, missing categories, an unknown field, a duplicate and a huge script with one line', async () => {
      await expectError(
        await post({ name: 'http-title', content: lua('x') }),
        409,
        'conflict',
        /^"http-title" is already a script \(or category\) of the installed nmap: rename your script/,
      );
      await expectError(await post({ name: 'plum-banner', content: lua('x') }), 409, 'conflict', /reserved for Plum's own scripts/);
      await expectError(await post({ name: 'site-x', content: 'action = function() return 1 end' }), 400, 'invalid_input', /declares no categories/);
      await expectError(await post({ name: 'site-x', content: lua('x'), path: '/etc/passwd' }), 400, 'invalid_input');
      await expectError(await post({ name: '../site', content: lua('x') }), 400, 'invalid_input', /invalid NSE script name/);
      await expectError(await post({ name: 'site-check', content: lua('three') }), 409, 'conflict', /already exists/);
      await expectError(await post({ name: 'site-big', content: `${lua('x')}${'-'.repeat(MAX_CUSTOM_SCRIPT_BYTES)}` }), 400, 'invalid_input');
      expect(((await (await api.call('/v1/nse-scripts', { auth: api.keys.viewer })).json()) as { items: unknown[] }).items).toHaveLength(1);
    });

    it('refuses to delete a script a profile names, and a malformed or unknown hash', async () => {
      await saveProfile(api.store, { name: 'uses-check', tcpPorts: '22', scripts: 'site-check' });
      await expectError(
        await api.call('/v1/nse-scripts/site-check', { method: 'DELETE', auth: api.keys.admin }),
        409,
        'conflict',
        'NSE script site-check is used by profile uses-check',
      );
      await expectError(await api.call('/v1/agent/nse-scripts/abc', { auth: api.agents.a.token }), 400, 'invalid_input');
      await expectError(await api.call(`/v1/agent/nse-scripts/${'0'.repeat(64)}`, { auth: api.agents.a.token }), 404, 'not_found');
    });
  });

  describe('security', () => {
    it('only admins change scripts; keys cannot fetch by hash and agents cannot list', async () => {
      for (const key of [api.keys.viewer, api.keys.operator]) {
        await expectError(await api.call('/v1/nse-scripts', { method: 'POST', auth: key, json: { name: 'site-evil', content: lua('x') } }), 403, 'forbidden');
        await expectError(await api.call('/v1/nse-scripts/site-check', { method: 'DELETE', auth: key }), 403, 'forbidden');
      }
      await expectError(await api.call('/v1/nse-scripts', { method: 'POST', json: { name: 'site-evil', content: lua('x') } }), 401, 'unauthorized');
      await expectError(
        await api.call('/v1/nse-scripts', { method: 'POST', auth: api.keys.revoked, json: { name: 'site-evil', content: lua('x') } }),
        401,
        'unauthorized',
      );
      await expectError(await api.call('/v1/nse-scripts', { auth: api.agents.a.token }), 403, 'forbidden');
      const sha = sha256Hex(lua('two'));
      await expectError(await api.call(`/v1/agent/nse-scripts/${sha}`, { auth: api.keys.admin }), 403, 'forbidden');
      await expectError(await api.call(`/v1/agent/nse-scripts/${sha}`), 401, 'unauthorized');
      await expectError(await api.call(`/v1/agent/nse-scripts/${sha}`, { auth: api.agents.revokedToken }), 401, 'unauthorized');
      expect(
        ((await (await api.call('/v1/nse-scripts', { auth: api.keys.viewer })).json()) as { items: Array<{ name: string }> }).items.map((s) => s.name),
      ).toEqual(['site-check']);
    });
  });
});
