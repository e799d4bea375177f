import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestScanResult, type IngestPort } from '../../store/ingest.ts';
import type { TestApi } from '../api/helpers.ts';
import { storeKinds } from '../helpers/db.ts';
import { host, port, scan, titledPort } from '../helpers/scan.ts';
import { expectAccessible, launchChromium, loginInBrowser, type PageProblems } from './browser-helpers.ts';
import { startTestWeb } from './helpers.ts';

const IP = '127.0.73.1';
const SCRIPT_TITLE = '<script>alert(1)</script>';
const IMG_BANNER = '<img src=x onerror=alert(2)>';
const SSH = 'SSH-2.0-OpenSSH_9.6';

/** The field differences shown under `rows` (a selector of events): `field | before | after`, one per line of their diff tables. */
async function diffRows(page: Page, rows: string): Promise<string[]> {
  const lines: string[] = [];
  for (const tr of await page.locator(`${rows} table.diff tbody tr`).all()) {
    lines.push((await tr.locator('th, td').allTextContents()).map((t) => t.trim()).join(' | '));
  }
  return lines;
}

/**
 * A `changed` event's field-level differences (field, before, after) as the changes page and the host page's
 * timeline show them, in Chromium; scanned markup in a title or banner, before or after, stays text.
 */
describe.each(storeKinds)('field differences of changed events in Chromium (%s)', (kind) => {
  let api: TestApi;
  let browser: Browser;
  const problems: PageProblems = { dialogs: [], csp: [], errors: [] };
  // Newest first, then by port: the banner of 22, the title of 80.
  const DIFFS = [`banner | ${IMG_BANNER} | ${SSH}`, `http_title | Welcome | ${SCRIPT_TITLE}`];

  beforeAll(async () => {
    api = await startTestWeb(kind);
    const ingest = (hoursAgo: number, ports: IngestPort[]) =>
      ingestScanResult(api.store, {
        source: `diff ${hoursAgo}h`,
        scan: scan([host(IP, new Date(Date.now() - hoursAgo * 3_600_000).toISOString(), ports)], '22,80'),
      });
    // Two hours ago a hostile banner and a plain title; an hour ago the other way round: each port changed once.
    await ingest(2, [port(22, IMG_BANNER), titledPort(IP, 80, 'Welcome')]);
    await ingest(1, [port(22, SSH), titledPort(IP, 80, SCRIPT_TITLE)]);
    browser = await launchChromium();
  }, 240_000);
  afterAll(async () => {
    await browser?.close();
    await api?.close();
  });

  it("happy: the changes page shows each changed event's fields with their values before and after", async () => {
    const { context, page } = await loginInBrowser(browser, api.server.url, 'viewer', problems);
    await page.goto(`${api.server.url}/changes?net=${IP}`);
    await page.locator('tr.event.changed').first().waitFor();
    const events = await Promise.all((await page.locator('tbody > tr.event').all()).map((tr) => tr.getAttribute('class')));
    expect(events).toEqual(['event changed', 'event changed', 'event appeared', 'event appeared']);
    expect(await diffRows(page, 'tr.event.changed')).toEqual(DIFFS);
    // The columns read as such: Field, Before, After.
    expect(await page.locator('tr.event.changed table.diff thead th').allTextContents()).toEqual(['Field', 'Before', 'After', 'Field', 'Before', 'After']);
    // An event without differences shows its fingerprint instead.
    expect(await page.locator('tr.event.appeared table.diff').count()).toBe(0);
    await expectAccessible(page, 'changes with field differences');
    await context.close();
  }, 90_000);

  it("happy: the host page's timeline shows the same differences under its changed events", async () => {
    const { context, page } = await loginInBrowser(browser, api.server.url, 'viewer', problems);
    await page.goto(`${api.server.url}/hosts/${IP}`);
    await page.locator('li.event.changed').first().waitFor();
    expect(await diffRows(page, 'li.event.changed')).toEqual(DIFFS);
    expect(await page.locator('li.event.appeared table.diff').count()).toBe(0);
    await context.close();
  }, 90_000);

  it('security: markup in a title or banner is text in the diff cells, on both pages, never elements', async () => {
    const { context, page } = await loginInBrowser(browser, api.server.url, 'viewer', problems);
    for (const [path, rows] of [
      [`/changes?net=${IP}`, 'tr.event.changed'],
      [`/hosts/${IP}`, 'li.event.changed'],
    ] as const) {
      const res = await page.goto(`${api.server.url}${path}`);
      const html = await res!.text();
      expect(html, path).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(html, path).toContain('&lt;img src=x onerror=alert(2)&gt;');
      expect(html, path).not.toContain(SCRIPT_TITLE);
      expect(html, path).not.toContain(IMG_BANNER);
      expect(await page.locator(`${rows} table.diff script, ${rows} table.diff img`).count(), path).toBe(0);
      expect(await page.locator(`${rows} table.diff ins`, { hasText: SCRIPT_TITLE }).count(), path).toBe(1);
      expect(await page.locator(`${rows} table.diff del`, { hasText: IMG_BANNER }).count(), path).toBe(1);
    }
    await context.close();
  }, 90_000);

  it('no dialog opened and no CSP violation or script error was reported on any page', () => {
    expect(problems.dialogs).toEqual([]);
    expect(problems.csp).toEqual([]);
    expect(problems.errors).toEqual([]);
  });
});
