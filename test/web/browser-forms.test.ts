import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestScanResult } from '../../store/ingest.ts';
import { findReportDefinition } from '../../store/repos/reports.ts';
import { findWebhook } from '../../store/repos/webhooks.ts';
import type { TestApi } from '../api/helpers.ts';
import { storeKinds } from '../helpers/db.ts';
import { host, port, scan } from '../helpers/scan.ts';
import { expectAccessible, launchChromium, loginInBrowser, type PageProblems } from './browser-helpers.ts';
import { startTestWeb } from './helpers.ts';

/**
 * The operator forms of the search page (save as a report or a webhook) and
 * of the rules page (import), driven in Chromium: happy path, a refused value
 * shown in the page, and what a viewer can neither see nor forge.
 */
describe.each(storeKinds)('search and rules page forms in Chromium (%s)', (kind) => {
  let api: TestApi;
  let browser: Browser;
  const problems: PageProblems = { dialogs: [], csp: [], errors: [] };
  const searchUrl = () => `${api.server.url}/search?q=${encodeURIComponent('port:443')}`;

  beforeAll(async () => {
    api = await startTestWeb(kind);
    await ingestScanResult(api.store, { source: 'test', scan: scan([host('127.0.71.1', new Date().toISOString(), [port(443, 'tls service')])]) });
    browser = await launchChromium();
  }, 240_000);
  afterAll(async () => {
    await browser?.close();
    await api?.close();
  });

  it('happy: an operator saves the current query as a report; it is on the reports page', async () => {
    const { context, page } = await loginInBrowser(browser, api.server.url, 'operator', problems);
    await page.goto(searchUrl());
    await page.getByText('Save this query as a report or a webhook').click();
    await expectAccessible(page, 'search with the save forms open');
    await page.getByLabel('Report name').fill('web-weekly');
    await page.getByLabel('Every (e.g. 1d, 7d)').fill('1d');
    await page.getByLabel(/^Recipients/).fill('mailto:soc@example.org');
    await page.getByRole('button', { name: 'Save the report' }).click();
    await page.getByText('Report web-weekly saved').waitFor();
    await expectAccessible(page, 'reports after saving');
    await page.goto(`${api.server.url}/reports`);
    await page.getByRole('link', { name: 'web-weekly' }).waitFor();
    expect((await findReportDefinition(api.store, 'web-weekly'))?.query).toBe('port:443');
    await context.close();
  }, 90_000);

  it('bad input: a webhook to a private address is refused with a one-line message in the form', async () => {
    const { context, page } = await loginInBrowser(browser, api.server.url, 'operator', problems);
    await page.goto(searchUrl());
    await page.getByText('Save this query as a report or a webhook').click();
    await page.getByLabel('Webhook name').fill('lan-hook');
    await page.getByLabel(/^URL receiving the events/).fill('http://127.0.0.1:9/hook');
    await page.getByRole('button', { name: 'Save the webhook' }).click();
    const alert = page.locator('form[action="/search/save/webhook"] [role="alert"]');
    await alert.waitFor();
    expect(await alert.innerText()).toMatch(/^webhook URL http:\/\/127\.0\.0\.1:9 points at 127\.0\.0\.1 \(loopback\), not a public address$/);
    // The form stays open with what was typed.
    expect(await page.getByLabel('Webhook name').inputValue()).toBe('lan-hook');
    await expectAccessible(page, 'search with a refused webhook');
    expect(await findWebhook(api.store, 'lan-hook')).toBeUndefined();
    await context.close();
  }, 90_000);

  it("security: a viewer sees no save form, and a forged post with the viewer's own token is refused 403", async () => {
    const { context, page } = await loginInBrowser(browser, api.server.url, 'viewer', problems);
    await page.goto(searchUrl());
    await page.locator('section.host-hit').first().waitFor();
    expect(await page.getByText('Save this query as a report or a webhook').count()).toBe(0);
    const token = await page.locator('input[name="_csrf"]').first().inputValue();
    const res = await page.request.post(`${api.server.url}/search/save/report`, {
      form: { _csrf: token, q: 'port:443', name: 'viewer-forged', every: '1d' },
      headers: { origin: api.server.url },
      maxRedirects: 0,
    });
    expect(res.status()).toBe(403);
    expect(await findReportDefinition(api.store, 'viewer-forged')).toBeUndefined();
    await context.close();
  }, 90_000);

  it('rules, happy: an operator uploads a rule file and reads the import report', async () => {
    const { context, page } = await loginInBrowser(browser, api.server.url, 'operator', problems);
    await page.goto(`${api.server.url}/rules`);
    await expectAccessible(page, 'rules with the import form');
    await page.getByLabel(/^Rule files/).setInputFiles([
      {
        name: 'browser-gitlab.yaml',
        mimeType: 'application/yaml',
        buffer: Buffer.from("description: GitLab\nquery: http_title.lk:gitlab\ntags: [product:gitlab]\nversion: '2026-01-01'\n"),
      },
    ]);
    await page.getByRole('button', { name: 'Import the rules', exact: true }).click();
    await page.getByText('1 imported, 0 updated, 0 skipped, 0 invalid.').waitFor();
    await page.getByRole('link', { name: 'browser-gitlab' }).first().click();
    await page.getByRole('heading', { level: 1, name: 'Rule browser-gitlab' }).waitFor();
    await context.close();
  }, 90_000);

  it('rules, bad input: an invalid file is listed with its reason in the import report', async () => {
    const { context, page } = await loginInBrowser(browser, api.server.url, 'operator', problems);
    await page.goto(`${api.server.url}/rules`);
    await page
      .getByLabel(/^Rule files/)
      .setInputFiles([
        { name: 'impossible.yaml', mimeType: 'application/yaml', buffer: Buffer.from('description: bad\nquery: port:70000\ntags: [x:y]\nversion: 1\n') },
      ]);
    await page.getByRole('button', { name: 'Import the rules', exact: true }).click();
    await page.getByText('0 imported, 0 updated, 0 skipped, 1 invalid.').waitFor();
    const row = page.getByRole('row', { name: /impossible\.yaml/ });
    expect(await row.innerText()).toMatch(/invalid\s+port 70000 is out of range/);
    await expectAccessible(page, 'rules import report');
    await context.close();
  }, 90_000);

  it("rules, security: a viewer sees no import form, and a forged upload with the viewer's own token is refused 403", async () => {
    const { context, page } = await loginInBrowser(browser, api.server.url, 'viewer', problems);
    await page.goto(`${api.server.url}/rules`);
    await page.getByRole('heading', { level: 1, name: 'Rules' }).waitFor();
    expect(await page.getByLabel(/^Rule files/).count()).toBe(0);
    const token = await page.locator('input[name="_csrf"]').first().inputValue();
    const res = await page.request.post(`${api.server.url}/rules/import`, {
      multipart: {
        _csrf: token,
        files: { name: 'viewer.yaml', mimeType: 'application/yaml', buffer: Buffer.from('description: v\nquery: port:1\ntags: [x:v]\nversion: 1\n') },
      },
      headers: { origin: api.server.url },
      maxRedirects: 0,
    });
    expect(res.status()).toBe(403);
    await context.close();
  }, 90_000);

  it('no dialog opened and no CSP violation was reported on any page', () => {
    expect(problems.dialogs).toEqual([]);
    expect(problems.csp).toEqual([]);
    // The refused form answers 422, the forged post 403: expected failed loads.
    expect(problems.errors.filter((e) => !/status of (403|422) /.test(e))).toEqual([]);
  });
});
