import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getStoredRule, listStoredRules } from '../../store/rules/index.ts';
import { storeKinds } from '../helpers/db.ts';
import type { TestApi } from '../api/helpers.ts';
import { loginAs, startTestWeb, type WebClient } from './helpers.ts';

/** A rule in Plum's format, and one in the predecessor's (no name: it comes from the file name). */
const PLUM_RULE = `name: web-upload-gitlab\ndescription: GitLab\nquery: http_title.lk:gitlab\ntags: [product:gitlab]\nversion: '2026-01-01'\n`;
const LEGACY_RULE = `description: Jenkins\nquery: http_title:jenkins\ntags: [Product:Jenkins]\nversion: 1633024800\n`;

describe.each(storeKinds)('importing rules from the web rules page (%s)', (kind) => {
  let api: TestApi;
  let operator: WebClient;
  let viewer: WebClient;
  let admin: WebClient;
  beforeAll(async () => {
    api = await startTestWeb(kind);
    operator = (await loginAs(api, 'operator')).client;
    viewer = (await loginAs(api, 'viewer')).client;
    admin = (await loginAs(api, 'admin')).client;
  }, 240_000);
  afterAll(async () => {
    await api?.close();
  });

  it('happy: an operator sees the import form; both formats are imported and listed, the shipped rules kept', async () => {
    expect(await (await operator.get('/rules')).text()).toContain('action="/rules/import"');
    const res = await operator.postFiles('/rules/import', [
      { name: 'gitlab.yaml', text: PLUM_RULE },
      { name: 'Jenkins CI.yml', text: LEGACY_RULE },
    ]);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('2 imported, 0 updated, 0 skipped, 0 invalid.');
    expect(html).toContain('href="/rules/web-upload-gitlab"');
    expect(await getStoredRule(api.store, 'jenkins-ci')).toMatchObject({ source: 'Jenkins CI.yml', tags: ['product:jenkins'] });
    // The shipped rules were loaded before the import, as `plum rules import` does.
    expect((await listStoredRules(api.store)).length).toBeGreaterThan(10);
    expect(await (await viewer.get('/rules?filter=web-upload')).text()).toContain('href="/rules/web-upload-gitlab"');
  });

  it('happy: a newer version updates a rule, the same or an older one is skipped (an admin may import too)', async () => {
    const newer = PLUM_RULE.replace("'2026-01-01'", "'2026-06-01'").replace('[product:gitlab]', '[product:gitlab, team:dev]');
    const res = await admin.postFiles('/rules/import', [
      { name: 'gitlab.yaml', text: newer },
      { name: 'Jenkins CI.yml', text: LEGACY_RULE.replace('description: Jenkins', 'description: Jenkins again') },
    ]);
    const html = await res.text();
    expect(html).toMatch(/0 imported, 1 updated, 1 skipped, 0 invalid\./);
    expect((await getStoredRule(api.store, 'web-upload-gitlab'))!.tags).toEqual(['product:gitlab', 'team:dev']);
  });

  it('bad input: invalid files are listed with their reason, the valid ones imported all the same', async () => {
    const res = await operator.postFiles('/rules/import', [
      { name: 'broken.yaml', text: 'description: [unclosed\n' },
      { name: 'never.yaml', text: 'description: bad\nquery: port:70000\ntags: [x:y]\nversion: 1\n' },
      { name: 'history.yaml', text: 'description: bad\nquery: port:22 since:7\ntags: [x:y]\nversion: 1\n' },
      { name: 'notes.txt', text: LEGACY_RULE },
      { name: 'latin1.yaml', text: new Uint8Array([0x64, 0x3a, 0x20, 0xe9, 0xff]) },
      { name: 'fine.yaml', text: 'description: fine\nquery: port:8081\ntags: [x:fine]\nversion: 1\n' },
    ]);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('1 imported, 0 updated, 0 skipped, 5 invalid.');
    for (const [file, reason] of [
      ['broken.yaml', 'not valid YAML'],
      ['never.yaml', '70000'],
      ['history.yaml', 'since'],
      ['notes.txt', 'not a .yaml or .yml file'],
      ['latin1.yaml', 'not UTF-8 text'],
    ]) {
      expect(html).toMatch(new RegExp(`<td>${file.replace('.', '\\.')}</td><td>invalid</td><td>[^<]*${reason}`));
    }
    expect(await getStoredRule(api.store, 'fine')).toBeTruthy();
    expect(await getStoredRule(api.store, 'never')).toBeUndefined();
  });

  it('bad input: a post with no file is refused with a one-line message in the form', async () => {
    const res = await operator.postFiles('/rules/import', []);
    expect(res.status).toBe(422);
    const html = await res.text();
    expect(html.slice(html.indexOf('action="/rules/import"'))).toContain('<p class="flash error" role="alert">no rule file was sent</p>');
  });

  it("security: a viewer sees no import form; a viewer's upload with a valid token is refused 403", async () => {
    expect(await (await viewer.get('/rules')).text()).not.toContain('/rules/import');
    const res = await viewer.postFiles('/rules/import', [{ name: 'viewer.yaml', text: PLUM_RULE.replace('web-upload-gitlab', 'viewer-rule') }]);
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('this page needs the operator role (you have viewer)');
    expect(await getStoredRule(api.store, 'viewer-rule')).toBeUndefined();
  });

  it('security: an upload without the CSRF token or from another origin is refused', async () => {
    const file = [{ name: 'forged.yaml', text: PLUM_RULE.replace('web-upload-gitlab', 'forged-rule') }];
    expect((await operator.postFiles('/rules/import', file, { csrf: false })).status).toBe(403);
    expect((await operator.postFiles('/rules/import', file, { headers: { origin: 'https://evil.example' } })).status).toBe(403);
    expect(await getStoredRule(api.store, 'forged-rule')).toBeUndefined();
  });

  it('security: a client path in the file name is dropped, and markup in names and reasons is escaped', async () => {
    const res = await operator.postFiles('/rules/import', [
      { name: '../../rules/evil.yaml', text: 'description: x\nquery: port:8082\ntags: [x:evil]\nversion: 1\n' },
      { name: '<img src=x onerror=alert(1)>.yaml', text: 'description: x\nquery: "<script>alert(2)</script>"\ntags: [x:y]\nversion: 1\n' },
    ]);
    const html = await res.text();
    expect((await getStoredRule(api.store, 'evil'))!.source).toBe('evil.yaml');
    expect(html).not.toContain('<img src=x');
    expect(html).not.toContain('<script>alert(2)');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;.yaml');
  });
});
