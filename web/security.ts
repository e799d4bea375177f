import { timingSafeEqual, randomBytes } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { PlumError } from '../core/errors.ts';
import { roleAtLeast } from '../api/auth.ts';
import { article } from '../core/plural.ts';
import { findWebSession } from '../store/repos/users.ts';
import type { ApiKeyRole } from '../store/repos/apikeys.ts';
import { SESSION_TTL_MS, type WebEnv, type WebOptions } from './context.ts';

export const SESSION_COOKIE = 'plum_session';
/** Double-submit token of the login form (there is no session yet to hold a synchronizer token). */
export const LOGIN_CSRF_COOKIE = 'plum_login_csrf';

/**
 * The Content-Security-Policy of every page: scripts only from this origin
 * (never inline, never eval), no plugins, no framing, forms only to us.
 * Scanned data is escaped by JSX; this is the second wall if it ever is not.
 */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export function secureRequest(c: Context, opts: WebOptions): boolean {
  if (opts.secureCookies !== 'auto') return opts.secureCookies === 'always';
  return new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto')?.split(',')[0]?.trim() === 'https';
}

export function setSessionCookie(c: Context, secret: string, opts: WebOptions): void {
  setCookie(c, SESSION_COOKIE, secret, {
    httpOnly: true,
    sameSite: 'Strict',
    path: '/',
    secure: secureRequest(c, opts),
    maxAge: Math.floor(SESSION_TTL_MS / 1000),
  });
}

export function clearSessionCookie(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: '/' });
}

/** A fresh login-form token, set as a cookie and returned for the hidden field. */
export function issueLoginCsrf(c: Context, opts: WebOptions): string {
  const token = randomBytes(32).toString('base64url');
  setCookie(c, LOGIN_CSRF_COOKIE, token, { httpOnly: true, sameSite: 'Strict', path: '/login', secure: secureRequest(c, opts), maxAge: 3600 });
  return token;
}

export function sameToken(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || a.length !== b.length || a.length > 200) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** A same-origin check on posts (defence in depth next to the CSRF token): a foreign Origin is refused. */
export function checkOrigin(c: Context): void {
  const origin = c.req.header('origin');
  if (!origin || origin === 'null') return;
  const host = c.req.header('host');
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    originHost = '';
  }
  if (!host || originHost !== host) {
    throw new PlumError('forbidden', 'the request comes from another site', { hint: 'use the form of this server' });
  }
}

/** Loads the session named by the cookie, if any and live. */
export function loadSession(): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    const secret = getCookie(c, SESSION_COOKIE);
    if (secret) {
      const session = await findWebSession(c.var.deps.store, secret, SESSION_TTL_MS);
      if (session) {
        c.set('session', session);
        c.set('user', session.user);
      }
    }
    await next();
  };
}

/**
 * Requires a logged-in user with at least `role` (the API's role order). No
 * session: a page request goes to the login page, anything else gets 401.
 * Every post must also carry the session's CSRF token.
 */
export function requireUser(role: ApiKeyRole): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    const session = c.var.session;
    if (!session) {
      if (c.req.method === 'GET' && !c.req.header('hx-request') && c.req.header('accept')?.includes('text/html')) {
        const next = new URL(c.req.url);
        return c.redirect(`/login?next=${encodeURIComponent(next.pathname + next.search)}`, 303);
      }
      throw new PlumError('unauthorized', 'not logged in', { hint: 'log in at /login' });
    }
    if (!roleAtLeast(session.user.role, role)) {
      throw new PlumError('forbidden', `this page needs the ${role} role (you have ${session.user.role})`, {
        hint: `ask an admin for ${article(role)} account`,
      });
    }
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      checkOrigin(c);
      const form =
        c.req.header('content-type')?.startsWith('application/x-www-form-urlencoded') || c.req.header('content-type')?.startsWith('multipart/form-data')
          ? await c.req.parseBody()
          : {};
      const presented = c.req.header('x-csrf-token') ?? (typeof form._csrf === 'string' ? form._csrf : undefined);
      if (!sameToken(presented, session.csrfToken)) {
        throw new PlumError('forbidden', 'missing or wrong CSRF token', { hint: 'reload the page and submit the form again' });
      }
    }
    await next();
  };
}
