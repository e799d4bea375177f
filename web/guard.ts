import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
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

const formLimit = (bytes: number): MiddlewareHandler<WebEnv> => bodyLimit({
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
