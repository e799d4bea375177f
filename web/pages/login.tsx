import type { Context, Hono } from 'hono';
import { deleteCookie, getCookie } from 'hono/cookie';
import { createWebSession, deleteWebSession, verifyLogin, type LockoutPolicy } from '../../store/repos/users.ts';
import { SESSION_TTL_MS, type WebEnv, type WebOptions } from '../context.ts';
import { guard, pageHeaders } from '../guard.ts';
import { render } from '../layout.tsx';
import { LOGIN_CSRF_COOKIE, SESSION_COOKIE, checkOrigin, clearSessionCookie, issueLoginCsrf, loadSession, sameToken, setSessionCookie } from '../security.ts';

/** Only a path of this site: never `//host` or a scheme, so a login link cannot send the user elsewhere. */
export function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/(?![/\\])[\x21-\x7e]*$/.test(next) && next.length < 2000 ? next : '/';
}

function LoginForm({ token, next, name, message, opts }: { token: string; next: string; name?: string; message?: string; opts: WebOptions }) {
  return (
    <>
      {message ? (
        <p class="flash error" role="alert">
          {message}
        </p>
      ) : null}
      {opts.sso ? (
        <p class="sso">
          <a class="button" href={`/login/oidc?${new URLSearchParams({ next })}`}>
            Sign in with {opts.sso.label}
          </a>
        </p>
      ) : null}
      {opts.localLogin ? (
        <form method="post" action="/login" class="login">
          <input type="hidden" name="_csrf" value={token} />
          <input type="hidden" name="next" value={next} />
          <label for="login-name">Name</label>
          <input id="login-name" name="name" autocomplete="username" required value={name ?? ''} />
          <label for="login-password">Password</label>
          <input id="login-password" name="password" type="password" autocomplete="current-password" required />
          <button type="submit">Log in</button>
        </form>
      ) : null}
    </>
  );
}

export async function loginPage(
  c: Context<WebEnv>,
  opts: WebOptions,
  state: { next: string; name?: string; message?: string },
  status: 200 | 400 | 403 | 429 | 503 = 200,
) {
  const token = opts.localLogin ? issueLoginCsrf(c, opts) : '';
  return render(c, 'Log in', <LoginForm token={token} opts={opts} {...state} />, status);
}

export function registerAuth(web: Hono<WebEnv>, opts: WebOptions, lockout?: LockoutPolicy): void {
  web.get('/login', pageHeaders, loadSession(), async (c) => {
    const next = safeNext(c.req.query('next'));
    if (c.var.session) return c.redirect(next, 303);
    return loginPage(c, opts, { next });
  });

  web.post('/login', pageHeaders, async (c) => {
    checkOrigin(c);
    const form = await c.req.parseBody();
    const next = safeNext(form.next);
    const name = typeof form.name === 'string' ? form.name.trim() : '';
    const password = typeof form.password === 'string' ? form.password : '';
    if (!opts.localLogin) {
      return loginPage(c, opts, { next, message: `Local accounts are disabled here: sign in with ${opts.sso?.label ?? 'single sign-on'}.` }, 403);
    }
    if (!sameToken(typeof form._csrf === 'string' ? form._csrf : undefined, getCookie(c, LOGIN_CSRF_COOKIE))) {
      return loginPage(c, opts, { next, name, message: 'The form expired or did not come from this page: log in again.' }, 403);
    }
    if (!name || !password) return loginPage(c, opts, { next, name, message: 'Enter a name and a password.' }, 400);
    const result = await verifyLogin(c.var.deps.store, name, password, lockout);
    if (!result.ok) {
      if (result.reason === 'locked') {
        c.var.deps.log.warn({ user: name.slice(0, 64) }, 'login refused: account locked');
        return loginPage(
          c,
          opts,
          {
            next,
            name,
            message: `Too many failed logins: this account is locked until ${result.until.toISOString().slice(0, 16).replace('T', ' ')} UTC. An admin can unlock it (plum user unlock).`,
          },
          429,
        );
      }
      return loginPage(c, opts, { next, name, message: 'Wrong name or password.' }, 403);
    }
    // A new session on every login: a session id planted before login is worth nothing.
    const { secret } = await createWebSession(c.var.deps.store, result.user.id, SESSION_TTL_MS);
    setSessionCookie(c, secret, opts);
    deleteCookie(c, LOGIN_CSRF_COOKIE, { path: '/login' });
    return c.redirect(next, 303);
  });

  web.post('/logout', ...guard('viewer'), async (c) => {
    const secret = getCookie(c, SESSION_COOKIE);
    if (secret) await deleteWebSession(c.var.deps.store, secret);
    clearSessionCookie(c);
    return c.redirect('/login', 303);
  });
}
