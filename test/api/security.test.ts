import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
      await expectError(await api.call('/v1/profiles', { method: 'POST', auth: api.keys.operator, json: { name: 'x1', tcpPorts: '80', scripts } }), status, code, message);
      await expectError(await api.call('/v1/investigations', { method: 'POST', auth: api.keys.operator, json: { targets: ['127.0.0.1'], ports: '80', scripts } }), status, code, message);
    });

    it('a profile with target-adding or file-reading script arguments is refused', async () => {
      for (const nmapArgs of ['--script-args newtargets,targets-xml.iX=/tmp/x.xml', '--script-args oraclesids=/etc/passwd', '--dns-servers 127.0.0.53']) {
        await expectError(await api.call('/v1/profiles', { method: 'POST', auth: api.keys.operator, json: { name: 'x2', tcpPorts: '80', nmapArgs } }),
          400, 'invalid_input', /^invalid profile nmapArgs: refused nmap argument/);
      }
    });

    it('only an admin can allow a script of a refused category; an operator\'s replace keeps the allowance', async () => {
      const body = { name: 'whois', tcpPorts: '80', scripts: ['http-title', 'whois-ip'], allowScripts: ['whois-ip'] };
      await expectError(await api.call('/v1/profiles', { method: 'POST', auth: api.keys.operator, json: body }), 403, 'forbidden', /allowing script whois-ip needs the admin role/);
      const res = await api.call('/v1/profiles', { method: 'POST', auth: api.keys.admin, json: body });
      expect(res.status).toBe(201);
      expect(((await res.json()) as { profile: { allowScripts: string[] } }).profile.allowScripts).toEqual(['whois-ip']);
      const put = await api.call('/v1/profiles/whois', { method: 'PUT', auth: api.keys.operator, json: { tcpPorts: '80,443', scripts: ['whois-ip'] } });
      expect(put.status).toBe(200);
      expect(((await put.json()) as { profile: { allowScripts: string[]; tcpPorts: string } }).profile).toMatchObject({ allowScripts: ['whois-ip'], tcpPorts: '80,443' });
      await expectError(await api.call('/v1/profiles/whois', { method: 'PUT', auth: api.keys.operator, json: { tcpPorts: '80', scripts: ['smb-flood'], allowScripts: ['smb-flood'] } }),
        403, 'forbidden', /allowing script smb-flood needs the admin role/);
    });
  });
});
