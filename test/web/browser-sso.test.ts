import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectAccessible, launchChromium } from './browser-helpers.ts';
import { startSsoWeb, type SsoWeb } from './sso-helpers.ts';

/**
 * Single sign-on in Chromium against the test IdP on loopback: the button on
 * Plum's login page, the provider's form, the way back with a session (the
 * SameSite=Strict session cookie must survive the return from the provider),
 * then the refusal page of a user with no mapped group. The store does not
 * matter to the browser's part (test/web/sso.test.ts covers both stores).
 */
describe('single sign-on in Chromium (pglite)', () => {
  let sso: SsoWeb;
  let browser: Browser;
  beforeAll(async () => {
    sso = await startSsoWeb('pglite');
    browser = await launchChromium();
  }, 240_000);
  afterAll(async () => {
    await browser?.close();
    await sso?.close();
  });

  async function signIn(user: string) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    // Browsers ask every site for /favicon.ico (the test IdP has none); any other failed request is a problem.
    page.on('response', (r) => {
      if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico') problems.push(`${r.status()} ${r.url()}`);
    });
    await page.goto(`${sso.url}/search?q=port%3A22`);
    // Not logged in: the login page, which offers the provider.
    await page.waitForURL(/\/login\?next=/);
    await expectAccessible(page, 'login page with single sign-on');
    await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
    await page.getByLabel('User').fill(user);
    await page.getByRole('button', { name: 'Sign in at the test IdP' }).click();
    return { context, page, problems };
  }

  it('happy: an operator signs in at the provider and lands, logged in, on the page asked for', async () => {
    const { context, page, problems } = await signIn('bob');
    await page.waitForURL(`${sso.url}/search?q=port%3A22`);
    await page.getByText('bob (operator)').waitFor();
    await expectAccessible(page, 'search after single sign-on');
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(`${sso.url}/login`);
    await page.goto(`${sso.url}/`);
    await page.waitForURL(/\/login\?next=/);
    expect(problems).toEqual([]);
    await context.close();
  }, 120_000);

  it('security: a user whose groups map to no role sees why, and gets no session', async () => {
    const { context, page } = await signIn('eve');
    await page.getByText('Test IdP signed you in as eve, but none of your groups (others) gives a role in Plum.').waitFor();
    await expectAccessible(page, 'single sign-on refused');
    expect((await context.cookies()).map((c) => c.name)).not.toContain('plum_session');
    await context.close();
  }, 120_000);
});
