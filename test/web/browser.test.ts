import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedServices } from '../../workers/serve-services.ts';
import { silentLogger } from '../../core/log.ts';
import { startPerimeter, type Perimeter } from '../../demo/perimeter/index.ts';
import { ingestScanResult } from '../../store/ingest.ts';
import { addTargets } from '../../store/repos/targets.ts';
import type { TestApi } from '../api/helpers.ts';
import { storeKinds } from '../helpers/db.ts';
import { host, port, scan } from '../helpers/scan.ts';
import { PASSWORDS, startTestWeb } from './helpers.ts';
import { expectAccessible, launchChromium } from './browser-helpers.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
/** Screenshots go to a temporary directory; PLUM_WEB_SCREENSHOTS=1 refreshes the ones docs/ and the README show. */
const SCREENSHOTS = process.env.PLUM_WEB_SCREENSHOTS === '1' ? path.join(ROOT, 'docs', 'screenshots') : path.join(os.tmpdir(), 'plum-web-screenshots');
const SCRIPT_TITLE = '<script>alert(1)</script>';
const IMG_BANNER = '<img src=x onerror=alert(2)>';
const SVG_CERT = '"><svg onload=alert(3)>';

describe.each(storeKinds)('the web interface in Chromium (%s)', (kind) => {
  let api: TestApi;
  let services: ReturnType<typeof embeddedServices>;
  let perimeter: Perimeter;
  let bannerServer: net.Server;
  let bannerIp: string;
  let bannerPort: number;
  let browser: Browser;
  const dialogs: string[] = [];
  /** Console errors (a failed asset, a script error) on any page. */
  const consoleErrors: string[] = [];
  const cspErrors: string[] = [];
  /** Every request a page made to anywhere but this server (there must be none: no CDN, no fonts, no telemetry). */
  const foreign: string[] = [];
  const shots = kind === 'pglite'; // one set of screenshots is enough

  beforeAll(async () => {
    // The loopback perimeter, its web title a script; and a banner service that sends markup.
    perimeter = await startPerimeter({ title: SCRIPT_TITLE });
    bannerIp = `${perimeter.prefix}.200`;
    bannerServer = net.createServer((s) => s.end(`${IMG_BANNER}\r\n`));
    await new Promise<void>((resolve) => bannerServer.listen(0, bannerIp, resolve));
    bannerPort = (bannerServer.address() as net.AddressInfo).port;

    const holder = await startTestWeb(kind);
    services = embeddedServices({ store: holder.store, config: holder.config, log: silentLogger, maxInFlight: 2 });
    await holder.server.close();
    const { startServer } = await import('../../api/server.ts');
    holder.server = await startServer({ store: holder.store, config: holder.config, services: services.api }, { host: '127.0.0.1', port: 0 });
    api = holder;

    await addTargets(api.store, [`${perimeter.prefix}.0/24`]);
    // A certificate whose names carry markup (synthetic: the perimeter's own certificate is well-formed).
    const certPort = port(8443, 'hostile certificate');
    certPort.fields = { ...certPort.fields, service_name: ['https'], x509_subject_cn: [SVG_CERT], x509_issuer: [SCRIPT_TITLE], http_title: [IMG_BANNER] };
    await ingestScanResult(api.store, { source: 'test', scan: scan([host(`${perimeter.prefix}.201`, new Date().toISOString(), [certPort])]) });

    await fs.mkdir(SCREENSHOTS, { recursive: true });
    browser = await launchChromium();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await services?.close();
    await api?.close();
    await new Promise((resolve) => bannerServer?.close(resolve));
    await perimeter?.close();
  });

  async function newSession(role: keyof typeof PASSWORDS): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('dialog', (d) => {
      dialogs.push(`${d.type()}: ${d.message()}`);
      void d.dismiss();
    });
    page.on('request', (r) => {
      if (!r.url().startsWith(api.server.url) && !r.url().startsWith('data:')) foreign.push(r.url());
    });
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) cspErrors.push(m.text());
      else if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    await page.goto(`${api.server.url}/`);
    await page.waitForURL(/\/login\?next=/);
    await page.getByLabel('Name').fill(role);
    await page.getByLabel('Password').fill(PASSWORDS[role]);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${api.server.url}/`);
    return { context, page };
  }

  const shot = async (page: Page, name: string) => {
    if (shots) await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: false });
  };

  it('logs in and shows the overview, accessible', async () => {
    const { context, page } = await newSession('admin');
    await expect(page.getByRole('heading', { level: 1, name: 'Overview' }).isVisible()).resolves.toBe(true);
    await expectAccessible(page, 'overview');
    await shot(page, 'overview');
    await context.close();
  }, 60_000);

  it('a wrong password stays on the login page with a message', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${api.server.url}/login`);
    await page.getByLabel('Name').fill('viewer');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('Wrong name or password.').waitFor();
    await expectAccessible(page, 'login');
    await shot(page, 'login');
    await context.close();
  }, 60_000);

  it('an operator starts an investigation of the loopback perimeter and watches it finish; hostile data renders as text', async () => {
    const { context, page } = await newSession('operator');
    const http = perimeter.service('http');
    await page.goto(`${api.server.url}/investigate`);
    await expectAccessible(page, 'investigation form');
    await page.getByLabel(/^Targets/).fill(`${http.ip}\n${bannerIp}`);
    await page.getByLabel('TCP ports').fill(`${http.port},${bannerPort}`);
    await page.getByLabel(/^Scripts/).fill('plum-banner,http-title');
    await page.getByLabel('Reason').fill('web test');
    await page.getByRole('button', { name: 'Start the investigation' }).click();
    await page.waitForURL(/\/runs\/run_/);
    // Live progress (SSE) ends with a reload on the finished run.
    await page.locator('#run-progress', { hasText: 'succeeded' }).waitFor({ timeout: 120_000 });
    await expectAccessible(page, 'run');
    await shot(page, 'run');

    await page.goto(`${api.server.url}/hosts/${http.ip}`);
    // The perimeter writes its title HTML-escaped (as a web server would), and nmap reports it as written.
    await page.getByText('&lt;script>alert(1)&lt;/script>').first().waitFor();
    expect(await page.locator('main script, main img').count()).toBe(0);
    expect(await page.locator('ol.timeline li').count()).toBeGreaterThan(0);
    await expectAccessible(page, 'host');
    await shot(page, 'host');

    await page.goto(`${api.server.url}/hosts/${bannerIp}`);
    await page.getByText(IMG_BANNER).first().waitFor();
    expect(await page.locator('img').count()).toBe(0);

    await page.goto(`${api.server.url}/hosts/${perimeter.prefix}.201`);
    await page.getByText(SVG_CERT).first().waitFor();
    expect(await page.locator('main svg, main script, main img').count()).toBe(0);

    await page.goto(`${api.server.url}/search?q=${encodeURIComponent(`net:${perimeter.prefix}.0/24`)}`);
    await page.getByText(IMG_BANNER).first().waitFor();
    expect(await page.locator('main script, main img, main svg').count()).toBe(0);
    await expectAccessible(page, 'search results');
    await shot(page, 'search');

    await page.goto(`${api.server.url}/changes`);
    await expectAccessible(page, 'changes');
    await shot(page, 'changes');
    await page.goto(`${api.server.url}/runs`);
    await expectAccessible(page, 'runs');
    expect(dialogs).toEqual([]);
    await context.close();
  }, 240_000);

  it('search: completion proposes fields, a syntax error is shown in place with its position', async () => {
    const { context, page } = await newSession('viewer');
    await page.goto(`${api.server.url}/search`);
    const box = page.getByLabel('Query');
    await box.pressSequentially('serv', { delay: 30 });
    await expect
      .poll(() => page.locator('#q-options option').evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value)), { timeout: 10_000 })
      .toContain('service_name:');
    await box.fill('port:80 AND (http_title:x');
    await box.press('Enter');
    await page.getByText(/Syntax error at position \d+/).waitFor();
    await expectAccessible(page, 'search error');
    await context.close();
  }, 60_000);

  it('an operator edits a profile; a viewer sees it read-only and has no operator buttons', async () => {
    const op = await newSession('operator');
    await op.page.goto(`${api.server.url}/perimeter/profiles/banner`);
    await op.page.getByLabel('TCP ports').fill('21-25,80,443');
    await op.page.getByRole('button', { name: 'Save' }).click();
    await op.page.getByText('Profile saved.').waitFor();
    expect(await op.page.getByLabel('TCP ports').inputValue()).toBe('21-25,80,443');
    await expectAccessible(op.page, 'profile');
    await shot(op.page, 'profile');
    await op.page.goto(`${api.server.url}/perimeter`);
    await expectAccessible(op.page, 'perimeter');
    await shot(op.page, 'perimeter');
    await op.context.close();

    const viewer = await newSession('viewer');
    await viewer.page.goto(`${api.server.url}/perimeter/profiles/banner`);
    expect(await viewer.page.getByRole('button', { name: 'Save' }).count()).toBe(0);
    await viewer.page.goto(`${api.server.url}/hosts/${perimeter.prefix}.201`);
    expect(await viewer.page.getByRole('button', { name: 'Investigate now' }).count()).toBe(0);
    expect(await viewer.page.getByRole('link', { name: 'Admin' }).count()).toBe(0);
    const res = await viewer.page.goto(`${api.server.url}/admin`);
    expect(res!.status()).toBe(403);
    await viewer.page.getByText('this page needs the admin role (you have viewer)').waitFor();
    await viewer.context.close();
  }, 90_000);

  it('rules, reports and administration pages are accessible', async () => {
    const { context, page } = await newSession('admin');
    for (const [p, name] of [
      ['/rules', 'rules'],
      ['/reports', 'reports'],
      ['/admin', 'admin'],
    ] as const) {
      await page.goto(`${api.server.url}${p}`);
      await expectAccessible(page, name);
      await shot(page, name);
    }
    await context.close();
  }, 90_000);

  it('the API reference at /docs renders from the package alone', async () => {
    const { context, page } = await newSession('viewer');
    const docsCsp: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) docsCsp.push(m.text());
    });
    await page.goto(`${api.server.url}/docs`);
    // Swagger UI renders the operations of /openapi.json (summaries from the route modules).
    await page.getByText('Liveness and database reachability', { exact: false }).first().waitFor({ timeout: 30_000 });
    await page.locator('.opblock-tag', { hasText: 'investigations' }).first().waitFor();
    expect(await page.locator('.opblock').count()).toBeGreaterThan(20);
    // An operation opens with its parameters, from the document.
    await page.locator('.opblock-summary', { hasText: '/v1/health' }).first().click();
    await page.locator('.opblock-body').first().waitFor();
    await expectAccessible(page, 'API reference');
    await shot(page, 'docs');
    expect(docsCsp).toEqual([]);
    await context.close();
  }, 60_000);

  it('no dialog opened, no CSP violation was reported and nothing was fetched from elsewhere, on any page', () => {
    expect(dialogs).toEqual([]);
    expect(cspErrors).toEqual([]);
    expect(foreign).toEqual([]);
    // The syntax-error page (400) and the role test's page (403) are the expected failed loads.
    expect(consoleErrors.filter((e) => !/status of (400|403) /.test(e))).toEqual([]);
  });
});
