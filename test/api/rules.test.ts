import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestScanResult } from '../../store/ingest.ts';
import { storeKinds } from '../helpers/db.ts';
import { host, port, scan } from '../helpers/scan.ts';
import { expectError, expectSecured, startTestApi, type TestApi } from './helpers.ts';

describe.each(storeKinds)('rules (%s)', (kind) => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi(kind);
    await ingestScanResult(api.store, {
      source: 'test',
      scan: scan([host('127.0.6.1', new Date().toISOString(), [port(22, 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3')])]),
    });
  }, 180_000);
  afterAll(async () => {
    await api?.close();
  });

  it('lists the shipped rules, filters by tag, shows one', async () => {
    const all = (await (await api.call('/v1/rules', { auth: api.keys.viewer })).json()) as { items: { name: string; tags: string[] }[] };
    expect(all.items.length).toBeGreaterThan(50);
    expect(all.items.map((r) => r.name)).toContain('cms-wordpress');
    const cms = (await (await api.call('/v1/rules?tag=type:cms', { auth: api.keys.viewer })).json()) as { items: { name: string; tags: string[] }[] };
    expect(cms.items.length).toBeGreaterThan(0);
    expect(cms.items.every((r) => r.tags.includes('type:cms'))).toBe(true);
    const one = (await (await api.call('/v1/rules/cms-wordpress', { auth: api.keys.viewer })).json()) as {
      rule: { query: string; tags: string[]; tests: { match: unknown[]; noMatch: unknown[] } };
    };
    expect(one.rule.tags).toContain('product:wordpress');
    expect(one.rule.tests.match.length).toBeGreaterThan(0);
    expect(one.rule.tests.noMatch.length).toBeGreaterThan(0);
    expect(Object.keys(one.rule.tests).sort()).toEqual(['match', 'noMatch']);
  });

  it('runs rule test cases, for all rules and for one', async () => {
    const all = (await (await api.call('/v1/rules/test', { method: 'POST', auth: api.keys.viewer, json: {} })).json()) as {
      rules: number;
      cases: number;
      failures: unknown[];
    };
    expect(all.rules).toBeGreaterThan(50);
    expect(all.failures).toEqual([]);
    const one = (await (await api.call('/v1/rules/test', { method: 'POST', auth: api.keys.viewer, json: { rule: 'cms-wordpress' } })).json()) as {
      rules: number;
      cases: number;
    };
    expect(one).toMatchObject({ rules: 1, cases: 3 });
  });

  it('tries a rule on a stored host', async () => {
    const res = await api.call('/v1/rules/test', { method: 'POST', auth: api.keys.viewer, json: { rule: 'ssh-openssh-debian', ip: '127.0.6.1' } });
    expect(res.status).toBe(200);
    const r = (await res.json()) as { ports: { port: number; matches: boolean; tags: string[] }[] };
    expect(r.ports).toHaveLength(1);
    expect(r.ports[0]).toMatchObject({ port: 22, matches: true });
    const no = (await (
      await api.call('/v1/rules/test', { method: 'POST', auth: api.keys.viewer, json: { rule: 'cms-wordpress', ip: '127.0.6.1' } })
    ).json()) as { ports: { matches: boolean }[] };
    expect(no.ports[0]!.matches).toBe(false);
  });

  it.each([
    ['GET', '/v1/rules/NOPE!', undefined, 400, 'invalid_input', 'invalid path field "name": must be a rule name (lowercase letters, digits, . _ -)'],
    ['GET', '/v1/rules/no-such-rule', undefined, 404, 'not_found', 'no rule named no-such-rule'],
    ['POST', '/v1/rules/test', { rule: 'no-such-rule' }, 404, 'not_found', 'no enabled rule named no-such-rule'],
    ['POST', '/v1/rules/test', { ip: '127.0.6.1' }, 400, 'invalid_input', 'invalid body field "rule": give the rule to try on the host'],
    ['POST', '/v1/rules/test', { rule: 'cms-wordpress', ip: '127.0.6.77' }, 404, 'not_found', 'no current open port stored for 127.0.6.77'],
    [
      'POST',
      '/v1/rules/test',
      { rule: 'cms-wordpress', ip: 'x' },
      400,
      'invalid_input',
      'invalid body field "ip": Too small: expected string to have >=2 characters',
    ],
  ])('%s %s %j is refused', async (method, path, json, status, code, message) => {
    await expectError(await api.call(path, { method, auth: api.keys.viewer, ...(json ? { json } : {}) }), status, code, message);
  });

  it('rule routes need a viewer key', async () => {
    await expectSecured(api, 'GET', '/v1/rules', 'viewer');
    await expectSecured(api, 'GET', '/v1/rules/cms-wordpress', 'viewer');
    await expectSecured(api, 'POST', '/v1/rules/test', 'viewer', {});
  });
});
