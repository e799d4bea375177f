import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getUser, listUsers } from '../../store/repos/users.ts';
import { storeKinds } from '../helpers/db.ts';
import { loginAs, WebClient } from './helpers.ts';
import { signInAtIdp, ssoLogin, startSsoWeb, type SsoWeb } from './sso-helpers.ts';

/** The value of the sign-in cookie, with one field changed (what a tampered browser would send). */
function tamperPending(client: WebClient, change: Record<string, string>): void {
  const raw = client.cookies.get('plum_oidc')!;
  const pending = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Record<string, string>;
  client.cookies.set('plum_oidc', Buffer.from(JSON.stringify({ ...pending, ...change })).toString('base64url'));
}

describe.each(storeKinds)('single sign-on through OpenID Connect (%s)', (kind) => {
  let sso: SsoWeb;
  beforeAll(async () => {
    sso = await startSsoWeb(kind);
  }, 240_000);
  afterAll(async () => {
    await sso?.close();
  });

  it('happy: the login page offers the provider next to the local form', async () => {
    const html = await (await fetch(`${sso.url}/login?next=%2Fruns`)).text();
    expect(html).toContain('href="/login/oidc?next=%2Fruns">Sign in with Test IdP</a>');
    expect(html).toContain('action="/login"');
  });

  it('happy: a full sign-in over HTTP opens a session with the mapped role, and lands on the page asked for', async () => {
    const { client, res } = await ssoLogin(sso, 'alice', '/runs');
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<meta http-equiv="refresh" content="0;url=/runs"/>');
    expect(html).toContain('Signed in as alice (admin)');
    expect(client.cookies.has('plum_session')).toBe(true);
    expect(client.cookies.has('plum_oidc')).toBe(false);
    const runs = await client.get(`${sso.url}/runs`);
    expect(runs.status).toBe(200);
    expect(await runs.text()).toContain('<span>alice (admin)</span>');
    const alice = (await listUsers(sso.api.store)).find((u) => u.name === 'alice');
    expect(alice?.role).toBe('admin');
  });

  it('happy: the longest page path a login may return to survives the trip to the provider', async () => {
    const next = `/search?q=${'a'.repeat(1980)}`;
    const { res } = await ssoLogin(sso, 'alice', next);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain(`content="0;url=${next}"`);
  });

  it('happy: each login applies the role mapping again (highest role of the matching groups)', async () => {
    const { client: carol } = await ssoLogin(sso, 'carol');
    expect(await (await carol.get(`${sso.url}/`)).text()).toContain('<span>carol (operator)</span>');
    const first = await ssoLogin(sso, 'bob');
    expect(await (await first.client.get(`${sso.url}/`)).text()).toContain('<span>bob (operator)</span>');
    // Promoted at the provider: the next login is an admin, and the operator session ends.
    sso.accounts.bob = ['soc', 'plum-admins'];
    const second = await ssoLogin(sso, 'bob');
    expect(await (await second.client.get(`${sso.url}/admin`)).text()).toContain('<span>bob (admin)</span>');
    expect((await first.client.get(`${sso.url}/`)).status).toBe(303);
    expect((await getUser(sso.api.store, 'bob')).role).toBe('admin');
  });

  it('happy: logout ends the session', async () => {
    const { client } = await ssoLogin(sso, 'alice');
    client.csrf = await client.csrfOf(`${sso.url}/`);
    const out = await client.postForm(`${sso.url}/logout`, {});
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/login');
    const after = await client.get(`${sso.url}/`);
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toBe('/login?next=%2F');
  });

  it('bad input: a callback whose state does not match is refused, no session', async () => {
    const { client, callback } = await signInAtIdp(sso, 'alice');
    const forged = new URL(callback);
    forged.searchParams.set('state', 'not-the-state-plum-sent');
    const res = await client.get(forged.href);
    expect(res.status).toBe(403);
    expect(await res.text()).toMatch(/single sign-on refused: [^<]*state/);
    expect(client.cookies.has('plum_session')).toBe(false);
  });

  it('bad input: a tampered code is refused by the provider, no session', async () => {
    const { client, callback } = await signInAtIdp(sso, 'alice');
    const forged = new URL(callback);
    forged.searchParams.set('code', `${forged.searchParams.get('code')}x`);
    const res = await client.get(forged.href);
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('single sign-on refused: the provider refused the code: invalid_grant');
    expect(client.cookies.has('plum_session')).toBe(false);
  });

  it('bad input: an ID token whose nonce is not the one sent is refused, no session', async () => {
    const { client, callback } = await signInAtIdp(sso, 'alice');
    tamperPending(client, { nonce: 'another-nonce' });
    const res = await client.get(callback);
    expect(res.status).toBe(403);
    expect(await res.text()).toMatch(/single sign-on refused: [^<]*nonce/);
    expect(client.cookies.has('plum_session')).toBe(false);
  });

  it('bad input: a callback without its sign-in cookie (expired, or another browser) asks to sign in again', async () => {
    const { callback } = await signInAtIdp(sso, 'alice');
    const stranger = new WebClient('');
    const res = await stranger.get(callback);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('This sign-in expired or was not started from this browser: sign in again.');
    expect(stranger.cookies.has('plum_session')).toBe(false);
  });

  it('security: an identity whose groups map to no role is refused with a clear page, and no account is made', async () => {
    const { client, res } = await ssoLogin(sso, 'eve');
    expect(res.status).toBe(403);
    const html = await res.text();
    expect(html).toContain('Test IdP signed you in as eve, but none of your groups (others) gives a role in Plum.');
    expect(html).toContain('PLUM_OIDC_ROLES');
    expect(client.cookies.has('plum_session')).toBe(false);
    expect((await listUsers(sso.api.store)).map((u) => u.name)).not.toContain('eve');
  });

  it('security: a user dropped from every mapped group loses their sessions at the next sign-in', async () => {
    sso.accounts.carol = ['staff'];
    const { client } = await ssoLogin(sso, 'carol');
    expect((await client.get(`${sso.url}/`)).status).toBe(200);
    sso.accounts.carol = [];
    expect((await ssoLogin(sso, 'carol')).res.status).toBe(403);
    expect((await client.get(`${sso.url}/`)).status).toBe(303);
  });

  it('security: a code cannot be used twice, and an IdP account named like a local one does not get it', async () => {
    const { client, callback, res } = await ssoLogin(sso, 'admin');
    expect(res.status).toBe(200);
    // The provider's "admin" is a viewer account of its own; the local admin is untouched.
    const page = await (await client.get(`${sso.url}/`)).text();
    expect(page).toMatch(/<span>admin-[0-9a-f]{7} \(viewer\)<\/span>/);
    expect((await getUser(sso.api.store, 'admin')).role).toBe('admin');
    const local = await loginAs({ ...sso.api, server: { ...sso.api.server, url: sso.url } }, 'admin');
    expect(local.res.status).toBe(303);
    // Replaying the callback: its cookie is spent, and with the cookie put back the provider refuses the code.
    const replay = new WebClient('');
    expect((await replay.get(callback)).status).toBe(400);
    const again = await signInAtIdp(sso, 'admin');
    const reused = new URL(callback);
    reused.searchParams.set('state', new URL(again.callback).searchParams.get('state')!);
    const res2 = await again.client.get(reused.href);
    expect(res2.status).toBe(403);
    expect(await res2.text()).toContain('invalid_grant');
  });

  it('bad input: a provider that cannot be reached gives a one-line 503 on the login page, and local logins still work', async () => {
    const down = await startSsoWeb(kind, { PLUM_OIDC_ISSUER: 'http://127.0.0.1:9' });
    try {
      const res = await fetch(`${down.url}/login/oidc`, { redirect: 'manual', headers: { accept: 'text/html' } });
      expect(res.status).toBe(503);
      expect(await res.text()).toContain('the single sign-on provider http://127.0.0.1:9 cannot be reached');
      const local = await loginAs({ ...down.api, server: { ...down.api.server, url: down.url } }, 'viewer');
      expect(local.res.status).toBe(303);
    } finally {
      await down.close();
    }
  }, 240_000);

  it('security: with local logins disabled, the page has no password form and a password post is refused', async () => {
    const only = await startSsoWeb(kind, { PLUM_WEB_LOCAL_LOGIN: 'false' });
    try {
      const html = await (await fetch(`${only.url}/login`)).text();
      expect(html).toContain('Sign in with Test IdP');
      expect(html).not.toContain('type="password"');
      const res = await new WebClient(only.url).post('/login', { name: 'admin', password: 'admin password 1', _csrf: 'x' });
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('Local accounts are disabled here: sign in with Test IdP.');
      expect((await ssoLogin(only, 'alice')).res.status).toBe(200);
    } finally {
      await only.close();
    }
  }, 240_000);
});
