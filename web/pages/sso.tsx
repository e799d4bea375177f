import type { Context, Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { PlumError } from '../../core/errors.ts';
import { createWebSession, endOidcUserSessions, upsertOidcUser } from '../../store/repos/users.ts';
import { SESSION_TTL_MS, type WebEnv, type WebOptions } from '../context.ts';
import { pageHeaders } from '../guard.ts';
import { render } from '../layout.tsx';
import type { OidcRelyingParty, PendingLogin } from '../oidc.ts';
import { secureRequest, setSessionCookie } from '../security.ts';
import { loginPage, safeNext } from './login.tsx';

/** State, nonce, PKCE verifier and destination of a sign-in under way (HttpOnly, for the callback only). */
const PENDING_COOKIE = 'plum_oidc';
const PENDING_PATH = '/login/oidc';

function readPending(raw: string | undefined): PendingLogin | undefined {
  if (!raw || raw.length > 4000) return undefined;
  try {
    const p = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<PendingLogin>;
    if ([p.state, p.nonce, p.verifier, p.next].every((v) => typeof v === 'string' && v.length > 0)) {
      return { state: p.state!, nonce: p.nonce!, verifier: p.verifier!, next: safeNext(p.next) };
    }
  } catch {
    // a cookie that is not ours: as if there were none
  }
  return undefined;
}

/**
 * Single sign-on through OpenID Connect (web/oidc.ts): /login/oidc sends the browser to the provider,
 * /login/oidc/callback checks what comes back and opens a session as a password login does.
 */
export function registerSso(web: Hono<WebEnv>, opts: WebOptions): void {
  const rp = opts.sso;
  if (!rp) return;

  web.get('/login/oidc', pageHeaders, async (c) => {
    const { url, pending } = await rp.begin(safeNext(c.req.query('next')));
    // Lax, not Strict: the callback is a navigation from the provider's site, and must carry it.
    setCookie(c, PENDING_COOKIE, Buffer.from(JSON.stringify(pending)).toString('base64url'), {
      httpOnly: true,
      sameSite: 'Lax',
      path: PENDING_PATH,
      secure: secureRequest(c, opts),
      maxAge: 600,
    });
    return c.redirect(url.href, 303);
  });

  web.get('/login/oidc/callback', pageHeaders, (c) => callback(c, opts, rp));
}

async function callback(c: Context<WebEnv>, opts: WebOptions, rp: OidcRelyingParty) {
  const { store, log, config } = c.var.deps;
  const pending = readPending(getCookie(c, PENDING_COOKIE));
  // One use: whatever happens next, this sign-in's secrets are gone from the browser.
  deleteCookie(c, PENDING_COOKIE, { path: PENDING_PATH });
  if (!pending) {
    return loginPage(c, opts, { next: '/', message: 'This sign-in expired or was not started from this browser: sign in again.' }, 400);
  }
  // The URL the provider redirected to, as configured (behind a proxy the request's own URL may differ).
  const here = new URL(config.PLUM_OIDC_REDIRECT_URL!);
  here.search = new URL(c.req.url).search;
  let identity;
  try {
    identity = await rp.finish(here, pending);
  } catch (e) {
    if (!(e instanceof PlumError) || (e.code !== 'forbidden' && e.code !== 'unavailable')) throw e;
    log.warn({ reason: e.message }, 'single sign-on refused');
    return loginPage(c, opts, { next: pending.next, message: e.message }, e.code === 'forbidden' ? 403 : 503);
  }
  if (!identity.role) {
    await endOidcUserSessions(store, identity.subject);
    log.warn({ subject: identity.subject }, 'single sign-on refused: no role maps to the identity');
    const claim = config.PLUM_OIDC_ROLE_CLAIM;
    return render(
      c,
      'Not allowed',
      <section class="error-page">
        <p class="flash error" role="alert">
          {rp.label} signed you in as {identity.name}, but none of your {claim} ({identity.claimValues.length ? identity.claimValues.join(', ') : 'none'}) gives
          a role in Plum.
        </p>
        <p>
          Ask a Plum administrator to map one of your {claim} to a role (PLUM_OIDC_ROLES), or your identity provider's administrator to add you to a mapped
          group.
        </p>
        <p>
          <a href="/login">Back to the login page</a>
        </p>
      </section>,
      403,
    );
  }
  const user = await upsertOidcUser(store, { subject: identity.subject, name: identity.name, role: identity.role });
  // A new session on every login, as with a password.
  const { secret } = await createWebSession(store, user.id, SESSION_TTL_MS);
  setSessionCookie(c, secret, opts);
  // A page that moves on by itself rather than a redirect: the session cookie is SameSite=Strict, and browsers
  // leave it off a redirect chain that began on the provider's site; this page's navigation begins on ours.
  return render(
    c,
    'Signed in',
    <p>
      Signed in as {user.name} ({user.role}). <a href={pending.next}>Continue</a>
    </p>,
    200,
    { refreshTo: pending.next },
  );
}
