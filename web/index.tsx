import { Hono } from 'hono';
import type { ResolvedDeps } from '../api/context.ts';
import { toApiError } from '../api/errors.ts';
import { registerAssets } from './assets.ts';
import { temporalUiBase } from './temporal-link.ts';
import type { WebEnv, WebOptions } from './context.ts';
import { render } from './layout.tsx';
import { registerAuth } from './pages/login.tsx';
import { registerSso } from './pages/sso.tsx';
import { createRelyingParty } from './oidc.ts';
import { registerDocs } from './pages/docs.tsx';
import { registerOverview } from './pages/overview.tsx';
import { registerSearch } from './pages/search.tsx';
import { registerHost } from './pages/host.tsx';
import { registerChanges } from './pages/changes.tsx';
import { registerRuns } from './pages/runs.tsx';
import { registerPerimeter } from './pages/perimeter.tsx';
import { registerRules } from './pages/rules.tsx';
import { registerReports } from './pages/reports.tsx';
import { registerAdmin } from './pages/admin.tsx';
import type { LockoutPolicy } from '../store/repos/users.ts';

export interface CreateWebOptions {
  lockout?: LockoutPolicy;
}

/**
 * The web interface: server-rendered pages over the same service functions
 * as the API routes, mounted on the API's app (so `plum serve` serves both).
 * Every route sets its own middleware (guard.ts) because a sub-app's `use('*')`
 * would also run on the API's routes.
 */
export function createWeb(deps: ResolvedDeps, opts: CreateWebOptions = {}): Hono<WebEnv> {
  const web = new Hono<WebEnv>();
  const options: WebOptions = {
    secureCookies: deps.config.PLUM_WEB_SECURE_COOKIES ?? 'auto',
    temporalUi: temporalUiBase(deps.config),
    localLogin: deps.config.PLUM_WEB_LOCAL_LOGIN,
    sso: createRelyingParty(deps.config),
  };

  web.onError(async (e, c) => {
    const { err, internal } = toApiError(e);
    if (internal) deps.log.error({ err: e, requestId: c.get('requestId'), path: c.req.path }, 'page failed');
    if (err.code === 'unauthorized' && c.req.method === 'GET') return c.redirect('/login', 303);
    const status = err.httpStatus as 400 | 403 | 404 | 409 | 422 | 429 | 500 | 503;
    // htmx partial requests get the message alone, to show in place.
    if (c.req.header('hx-request')) return c.html(`<p class="flash error" role="alert">${escapeText(err.message)}</p>`, status);
    return render(
      c,
      status === 404 ? 'Not found' : status === 403 ? 'Not allowed' : 'Something went wrong',
      <section class="error-page">
        <p class="flash error" role="alert">
          {err.message}
        </p>
        {err.hint ? <p>{err.hint}</p> : null}
        <p class="muted">Request {c.get('requestId')}</p>
      </section>,
      status,
    );
  });

  registerAssets(web);
  registerDocs(web);
  registerAuth(web, options, opts.lockout);
  registerSso(web, options);
  registerOverview(web);
  registerSearch(web);
  registerHost(web);
  registerChanges(web);
  registerRuns(web, options);
  registerPerimeter(web);
  registerRules(web);
  registerReports(web);
  registerAdmin(web);
  return web;
}

function escapeText(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
