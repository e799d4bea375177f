import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../core/ids.ts';
import { storeKinds } from '../helpers/db.ts';
import { expectError, startTestApi, type TestApi } from './helpers.ts';

/** Issue #31 over the HTTP API: happy / bad input / security for the scope guard and input validation. */
describe.each(storeKinds)('API security (%s)', (kind) => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi(kind, { services: { startInvestigation: async () => ({ runId: 'run_00000000000000000000000000' }) } });
    await api.call('/v1/targets', { method: 'POST', auth: api.keys.operator, json: { values: ['127.0.0.0/30'] } });
  }, 180_000);
  afterAll(async () => {
    await api?.close();
  });

  describe('NSE scripts and script arguments', () => {
    it.each([
      [['whois-ip'], 422, 'unsafe_argument', /refused NSE script "whois-ip": it is in the external category/],
      [['http-slowloris'], 422, 'unsafe_argument', /dos/],
      [['broadcast-ping'], 422, 'unsafe_argument', /broadcast/],
      [['http-titel'], 400, 'invalid_input', /unknown NSE script "http-titel"/],
    ] as const)('a profile with scripts %j is refused', async (scripts, status, code, message) => {
      await expectError(
        await api.call('/v1/profiles', { method: 'POST', auth: api.keys.operator, json: { name: 'x1', tcpPorts: '80', scripts } }),
        status,
        code,
        message,
      );
      await expectError(
        await api.call('/v1/investigations', { method: 'POST', auth: api.keys.operator, json: { targets: ['127.0.0.1'], ports: '80', scripts } }),
        status,
        code,
        message,
      );
    });

    it('a profile with target-adding or file-reading script arguments is refused', async () => {
      for (const nmapArgs of ['--script-args newtargets,targets-xml.iX=/tmp/x.xml', '--script-args oraclesids=/etc/passwd', '--dns-servers 127.0.0.53']) {
        await expectError(
          await api.call('/v1/profiles', { method: 'POST', auth: api.keys.operator, json: { name: 'x2', tcpPorts: '80', nmapArgs } }),
          400,
          'invalid_input',
          /^invalid profile nmapArgs: refused nmap argument/,
        );
      }
    });

    it("only an admin can allow a script of a refused category; an operator's replace keeps the allowance", async () => {
      const body = { name: 'whois', tcpPorts: '80', scripts: ['http-title', 'whois-ip'], allowScripts: ['whois-ip'] };
      await expectError(
        await api.call('/v1/profiles', { method: 'POST', auth: api.keys.operator, json: body }),
        403,
        'forbidden',
        /allowing script whois-ip needs the admin role/,
      );
      const res = await api.call('/v1/profiles', { method: 'POST', auth: api.keys.admin, json: body });
      expect(res.status).toBe(201);
      expect(((await res.json()) as { profile: { allowScripts: string[] } }).profile.allowScripts).toEqual(['whois-ip']);
      const put = await api.call('/v1/profiles/whois', { method: 'PUT', auth: api.keys.operator, json: { tcpPorts: '80,443', scripts: ['whois-ip'] } });
      expect(put.status).toBe(200);
      expect(((await put.json()) as { profile: { allowScripts: string[]; tcpPorts: string } }).profile).toMatchObject({
        allowScripts: ['whois-ip'],
        tcpPorts: '80,443',
      });
      await expectError(
        await api.call('/v1/profiles/whois', {
          method: 'PUT',
          auth: api.keys.operator,
          json: { tcpPorts: '80', scripts: ['smb-flood'], allowScripts: ['smb-flood'] },
        }),
        403,
        'forbidden',
        /allowing script smb-flood needs the admin role/,
      );
    });
  });

  describe('bad input is a 400, never a 500', () => {
    const NUL = '\u0000';
    it('NUL characters in any text field', async () => {
      const cases: Array<[string, RequestInit & { auth: string; json?: unknown }]> = [
        ['/v1/targets', { method: 'POST', auth: api.keys.operator, json: { values: ['127.0.0.3'], note: `a${NUL}b` } }],
        ['/v1/apikeys', { method: 'POST', auth: api.keys.admin, json: { role: 'viewer', name: `k${NUL}` } }],
        ['/v1/profiles', { method: 'POST', auth: api.keys.operator, json: { name: 'nul', tcpPorts: '22', description: `d${NUL}` } }],
        [`/v1/search?q=${encodeURIComponent(`port:22 ${NUL}`)}`, { auth: api.keys.viewer }],
        [`/v1/search?mode=token&q=${encodeURIComponent(`ssh${NUL}`)}`, { auth: api.keys.viewer }],
        ['/v1/agent/heartbeat', { method: 'POST', auth: api.agents.a.token, json: { version: `1${NUL}` } }],
      ];
      for (const [path, init] of cases) await expectError(await api.call(path, init), 400, 'invalid_input', /NUL character/);
      // A target import (text/plain, its own size limit) refuses the line as an invalid target and stores nothing of it.
      const imported = await api.call('/v1/targets/import', {
        method: 'POST',
        auth: api.keys.operator,
        body: `127.0.0.2${NUL}\n`,
        headers: { 'content-type': 'text/plain' },
      });
      expect(imported.status).toBe(200);
      expect(((await imported.json()) as { invalid: unknown[] }).invalid).toHaveLength(1);
    });

    it('hand-made cursors with bad values', async () => {
      const first = (await (await api.call('/v1/search?q=port:22&limit=1', { auth: api.keys.viewer })).json()) as { nextCursor?: string };
      expect(first).toBeDefined();
      // A forged cursor carries the right query hash (it is not a secret) and bad values.
      const real = await api.call('/v1/search?q=port:1&limit=1', { auth: api.keys.viewer });
      expect(real.status).toBe(200);
      const { createHash } = await import('node:crypto');
      const h = createHash('sha256').update(['structured', 'port:1', 'port', 'last_seen', 'current', ''].join('\u0000')).digest('base64url').slice(0, 16);
      const forge = (c: object) => Buffer.from(JSON.stringify({ h, ...c })).toString('base64url');
      for (const c of [
        { k: 'yesterday', ip: '127.0.0.1' },
        { k: '2026-02-31T00:00:00.000000Z', ip: '127.0.0.1' },
        { k: '2026-01-01T00:00:00.000000Z', ip: '1.2.3' },
        { k: '2026-01-01T00:00:00.000000Z', ip: "'; drop table x" },
        { k: 5, ip: '127.0.0.1' },
        { k: '2026-01-01T00:00:00.000000Z', ip: '127.0.0.1', o: -1 },
      ]) {
        await expectError(await api.call(`/v1/search?q=port:1&limit=1&cursor=${forge(c)}`, { auth: api.keys.viewer }), 400, 'invalid_input', 'invalid cursor');
      }
      await expectError(await api.call('/v1/search?q=port:1&cursor=bm9wZQ', { auth: api.keys.viewer }), 400, 'invalid_input', 'invalid cursor');
    });

    it('a token query of 3,000 dashes, and one too long', async () => {
      const dashes = await api.call(`/v1/search?mode=token&q=${'-'.repeat(3000)}`, { auth: api.keys.viewer });
      expect(dashes.status).not.toBe(500);
      expect([200, 400]).toContain(dashes.status);
      const negated = await api.call(`/v1/search?mode=token&q=${encodeURIComponent(`${'-'.repeat(3000)}ssh`)}`, { auth: api.keys.viewer });
      expect(negated.status).toBe(200);
      await expectError(
        await api.call(`/v1/search?mode=token&q=${encodeURIComponent('a '.repeat(100))}`, { auth: api.keys.viewer }),
        400,
        'invalid_input',
        'token query of more than 64 words',
      );
    });

    it('100,000-deep nesting in a JSON body and in an upload', async () => {
      const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
      await expectError(
        await api.call('/v1/targets', { method: 'POST', auth: api.keys.operator, body: `{"values":${deep}}`, headers: { 'content-type': 'application/json' } }),
        400,
        'invalid_input',
        /nested deeper than 64 levels/,
      );
      const runId = newId('run');
      const jobId = newId('job');
      await api.store.query(`insert into runs (id, kind, targets, status) values ($1, 'investigation', '{127.0.0.1}', 'running')`, [runId]);
      await api.store.query(
        `insert into jobs (id, run_id, index, targets, tcp_ports, status, agent) values ($1, $2, 0, '{127.0.0.1}', '22', 'running', 'agent-a')`,
        [jobId, runId],
      );
      const xml = `<?xml version="1.0"?><nmaprun>${'<a>'.repeat(100_000)}${'</a>'.repeat(100_000)}</nmaprun>`;
      const up = await api.call(`/v1/agent/jobs/${jobId}/result`, {
        method: 'PUT',
        auth: api.agents.a.token,
        body: xml,
        headers: { 'content-type': 'application/xml' },
      });
      expect(up.status, await up.text()).toBeLessThan(500);
    });
  });
});
