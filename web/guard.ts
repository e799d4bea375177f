import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { expensiveLimiterOf } from '../api/auth.ts';
import type { ResolvedDeps } from '../api/context.ts';
import { PlumError } from '../core/errors.ts';
import type { ApiKeyRole } from '../store/repos/apikeys.ts';
import type { WebEnv } from './context.ts';
import { PAGE_CSP, loadSession, requireUser } from './security.ts';

/** Headers of every page; set per route (the web app shares its router with the API). */
export const pageHeaders: MiddlewareHandler<WebEnv> = async (c, next) => {
  await next();
  c.header('Content-Security-Policy', PAGE_CSP);
  c.header('X-Frame-Options', 'DENY');
  c.header('Referrer-Policy', 'same-origin');
  c.header('Cross-Origin-Opener-Policy', 'same-origin');
};

const formLimit = (bytes: number): MiddlewareHandler<WebEnv> =>
  bodyLimit({
    maxSize: bytes,
    onError: () => {
      throw new PlumError('payload_too_large', `form larger than ${bytes} bytes`, { hint: 'send less at once (e.g. import targets in several batches)' });
    },
  });

/**
 * What every page and form action goes through: page headers, the session,
 * the role check (the API's role order), and on posts the CSRF token.
 */
type Mw = MiddlewareHandler<WebEnv>;
export function guard(role: ApiKeyRole, opts: { bodyBytes?: number } = {}): [Mw, Mw, Mw, Mw] {
  return [pageHeaders, formLimit(opts.bodyBytes ?? 1024 * 1024), loadSession(), requireUser(role)];
}

const limiters = new WeakMap<ResolvedDeps, Mw>();

/** Routes that spend another route's budget: a refused save form re-runs the search it was posted from. */
const BUDGET_OF: Record<string, string> = { '/search/save/report': '/search', '/search/save/webhook': '/search' };

function expensiveLimiter(deps: ResolvedDeps): Mw {
  return expensiveLimiterOf<WebEnv>(
    limiters,
    deps,
    (ctx) => `user:${ctx.var.user.name} ${BUDGET_OF[ctx.req.routePath] ?? ctx.req.routePath}`,
    () =>
      new PlumError('rate_limited', `too many searches: at most ${deps.limits.expensivePerMinute} a minute`, {
        hint: 'wait a minute, or page through the results instead of repeating the search',
      }),
  );
}

/**
 * The API's limit on expensive reads (search, export), per web user: at most
 * `limits.expensivePerMinute` a minute. Goes after guard() (it needs the user).
 */
export const expensivePage: Mw = async (c, next) => {
  if (!c.req.query('q')) return next(); // the empty search form costs nothing
  return expensiveLimiter(c.var.deps)(c, next);
};

/**
 * Runs `work` (a search made by a form post, whose query is in the body) within
 * the same per-user budget as the page it came from; throws rate_limited past it.
 */
export async function withinSearchBudget<T>(c: Parameters<Mw>[0], work: () => Promise<T>): Promise<T> {
  let out: T | undefined;
  let ran = false;
  await expensiveLimiter(c.var.deps)(c, async () => {
    out = await work();
    ran = true;
  });
  if (!ran) throw new PlumError('rate_limited', 'too many searches', { hint: 'wait a minute' });
  return out as T;
}
