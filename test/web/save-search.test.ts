import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestScanResult } from '../../store/ingest.ts';
import { findReportDefinition, listReportDefinitions } from '../../store/repos/reports.ts';
import { deleteWebhook, findWebhook, listWebhookStatus } from '../../store/repos/webhooks.ts';
import { storeKinds } from '../helpers/db.ts';
import { host, port, scan } from '../helpers/scan.ts';
import { startTestApiOn, type TestApi } from '../api/helpers.ts';
import { loginAs, startTestWeb, WebClient } from './helpers.ts';

/** A public address literal: the destination check accepts it without DNS; nothing is ever sent to it (the webhook is removed at once). */
const PUBLIC_HOOK = 'https://203.0.114.7/plum-hook';
const Q = 'port:443';
const SEARCH = { q: Q, by: 'port', sort: 'last_seen' };

describe.each(storeKinds)('saving a search as a report or a webhook (%s)', (kind) => {
  let api: TestApi;
  let operator: WebClient;
  let viewer: WebClient;
  beforeAll(async () => {
    api = await startTestWeb(kind);
    await ingestScanResult(api.store, { source: 'test', scan: scan([host('127.0.70.1', '2026-01-01T00:00:00Z', [port(443, 'tls service')])]) });
    operator = (await loginAs(api, 'operator')).client;
    viewer = (await loginAs(api, 'viewer')).client;
  }, 240_000);
  afterAll(async () => {
    await api?.close();
  });

  it('happy: an operator sees both forms under the results of a query', async () => {
    const html = await (await operator.get(`/search?q=${encodeURIComponent(Q)}`)).text();
    expect(html).toContain('action="/search/save/report"');
    expect(html).toContain('action="/search/save/webhook"');
    expect(html).toContain(`name="q" value="${Q}"`);
  });

  it('happy: saving a report stores the query, and the reports page lists it', async () => {
    const res = await operator.postForm('/search/save/report', {
      ...SEARCH,
      name: 'tls-weekly',
      every: '7d',
      recipients: 'mailto:soc@example.org',
      description: 'TLS exposure',
    });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Report tls-weekly saved');
    const def = await findReportDefinition(api.store, 'tls-weekly');
    expect(def).toMatchObject({ query: Q, every: '7d', destinations: ['mailto:soc@example.org'], description: 'TLS exposure' });
    const page = await (await viewer.get('/reports')).text();
    expect(page).toContain('href="/reports/tls-weekly"');
  });

  it('happy: saving a webhook shows its signing secret once, and the reports page lists it with its query', async () => {
    const res = await operator.postForm('/search/save/webhook', { ...SEARCH, name: 'tls-hook', url: PUBLIC_HOOK, events: 'appeared' });
    expect(res.status).toBe(200);
    const html = await res.text();
    const hook = await findWebhook(api.store, 'tls-hook');
    expect(hook).toMatchObject({ url: PUBLIC_HOOK, query: Q, eventTypes: ['appeared'] });
    expect(html).toContain(hook!.secret);
    const page = await (await viewer.get('/reports')).text();
    expect(page).toContain('href="/reports/webhooks/tls-hook"');
    expect(page).toContain(`<code>${Q}</code>`);
    expect(page).not.toContain(hook!.secret);
    await deleteWebhook(api.store, 'tls-hook');
  });

  it.each([
    ['an invalid URL', { url: 'not a url' }, 'invalid webhook URL &quot;not a url&quot;'],
    ['a loopback destination', { url: 'http://127.0.0.1:9/x' }, 'points at 127.0.0.1 (loopback), not a public address'],
    ['the cloud metadata address', { url: 'http://169.254.169.254/latest' }, 'points at 169.254.169.254 (linkLocal), not a public address'],
    ['no event type', { url: PUBLIC_HOOK, events: undefined }, 'choose at least one event type'],
    ['a bad name', { url: PUBLIC_HOOK, name: 'no spaces allowed' }, 'invalid webhook name'],
  ])('bad input: a webhook with %s is refused in the form, nothing stored', async (_what, over, message) => {
    const form: Record<string, string> = { ...SEARCH, name: 'bad-hook', events: 'appeared' };
    for (const [k, v] of Object.entries(over)) {
      if (v === undefined) delete form[k];
      else form[k] = v;
    }
    const res = await operator.postForm('/search/save/webhook', form);
    expect(res.status).toBe(422);
    const html = await res.text();
    // The message is inside the webhook form, which stays open with the values typed.
    const webhookForm = html.slice(html.indexOf('action="/search/save/webhook"'));
    expect(webhookForm).toMatch(new RegExp(`<p class="flash error" role="alert">[^<]*${message.replace(/[().]/g, '\\$&')}`));
    expect(html).toContain('<details class="save-query" open');
    expect((await listWebhookStatus(api.store)).map((h) => h.name)).not.toContain(form.name);
  });

  it.each([
    ['a dir: recipient (a file on the server)', { recipients: 'dir:/tmp' }, 'dir: recipients cannot be set from here'],
    ['a private webhook recipient', { recipients: 'webhook:http://10.0.0.5/x' }, 'not a public address'],
    ['a cadence under an hour', { every: '5m' }, 'too frequent'],
    ['a taken name', { name: 'tls-weekly' }, 'a report named &quot;tls-weekly&quot; already exists'],
  ])('bad input: a report with %s is refused in the form, nothing half-written', async (_what, over, message) => {
    const before = (await listReportDefinitions(api.store)).length;
    const res = await operator.postForm('/search/save/report', { ...SEARCH, name: 'bad-report', every: '7d', recipients: '', ...over });
    expect(res.status).toBe(422);
    const html = await res.text();
    expect(html.slice(html.indexOf('action="/search/save/report"'), html.indexOf('action="/search/save/webhook"'))).toContain(message);
    expect((await listReportDefinitions(api.store)).length).toBe(before);
    // A refused webhook recipient rolls the report back with it.
    expect(await findWebhook(api.store, 'bad-report:webhook')).toBeUndefined();
  });

  it('bad input: a query that does not parse is refused', async () => {
    const res = await operator.postForm('/search/save/report', { ...SEARCH, q: 'port:443 AND (', name: 'broken', every: '7d' });
    expect(res.status).toBe(400);
    expect(await findReportDefinition(api.store, 'broken')).toBeUndefined();
  });

  it("security: a viewer sees no save form, and a viewer's post with a valid token is refused 403", async () => {
    const html = await (await viewer.get(`/search?q=${encodeURIComponent(Q)}`)).text();
    expect(html).not.toContain('/search/save/');
    for (const path of ['/search/save/report', '/search/save/webhook']) {
      const res = await viewer.postForm(path, { ...SEARCH, name: 'viewer-made', every: '7d', url: PUBLIC_HOOK, events: 'appeared' });
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('this page needs the operator role (you have viewer)');
    }
    expect(await findReportDefinition(api.store, 'viewer-made')).toBeUndefined();
    expect(await findWebhook(api.store, 'viewer-made')).toBeUndefined();
  });

  it("security: an operator's post without the CSRF token or from another origin is refused", async () => {
    const missing = await operator.post('/search/save/report', { ...SEARCH, name: 'forged', every: '7d' });
    expect(missing.status).toBe(403);
    const foreign = await operator.postForm(
      '/search/save/webhook',
      { ...SEARCH, name: 'forged', url: PUBLIC_HOOK, events: 'appeared' },
      { origin: 'https://evil.example' },
    );
    expect(foreign.status).toBe(403);
    expect(await findReportDefinition(api.store, 'forged')).toBeUndefined();
    expect(await findWebhook(api.store, 'forged')).toBeUndefined();
  });

  it("security: a refused save form re-runs its search within the user's search limit", async () => {
    const strict = await startTestApiOn(api, undefined, { expensivePerMinute: 2 });
    try {
      const o = new WebClient(strict.server.url);
      o.cookies = new Map(operator.cookies);
      o.csrf = operator.csrf;
      expect((await o.get(`/search?q=${encodeURIComponent(Q)}`)).status).toBe(200);
      const refused = { ...SEARCH, name: 'no spaces allowed', url: PUBLIC_HOOK, events: 'appeared' };
      expect((await o.postForm('/search/save/webhook', refused)).status).toBe(422);
      const third = await o.postForm('/search/save/webhook', refused);
      expect(third.status).toBe(429);
      expect(await third.text()).toContain('too many searches: at most 2 a minute');
      // The page shares that budget: the next search is refused too.
      expect((await o.get(`/search?q=${encodeURIComponent(Q)}`)).status).toBe(429);
    } finally {
      await strict.close();
    }
  });

  it('security: a query and names with markup are escaped on the search and reports pages', async () => {
    const q = 'http_title:"<script>alert(1)</script>"';
    const res = await operator.postForm('/search/save/report', { ...SEARCH, q, name: 'markup', every: '1d', description: '<img src=x onerror=alert(2)>' });
    expect(res.status).toBe(200);
    const page = await (await viewer.get('/reports')).text();
    expect(page).not.toContain('<script>alert(1)');
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });
});
