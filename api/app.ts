import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import { PlumError } from '../core/errors.ts';
import { silentLogger } from '../core/log.ts';
import { DEFAULT_LIMITS, type ApiApp, type ApiDeps, type ApiEnv, type ResolvedDeps } from './context.ts';
import { respondError, toApiError, validationError } from './errors.ts';
import { inputGuard } from './input-guard.ts';
import { observeRequests } from './metrics.ts';
import { routeModules } from './routes/index.ts';
import { PLUM_VERSION } from '../core/version.ts';
import { registerMcpRoute } from '../mcp/http.ts';
import { createWeb } from '../web/index.tsx';

export const API_VERSION = PLUM_VERSION;

/** Routes with their own, larger, body limit (agent result uploads, bulk target import). */
const OWN_BODY_LIMIT = /^\/v1\/(agent\/jobs\/[^/]+\/result|targets\/import)$/;

/**
 * The HTTP API. Every route module registers one operation (createRoute +
 * handler); errors from anywhere are translated once, in `onError`, into
 * `{error:{code,message,requestId}}`.
 */
export function createApp(deps: ApiDeps): ApiApp {
  const resolved: ResolvedDeps = {
    ...deps,
    log: deps.log ?? silentLogger,
    limits: { ...DEFAULT_LIMITS, ...deps.limits },
    services: deps.services ?? {},
  };
  const app: ApiApp = new OpenAPIHono<ApiEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.target, result.error);
    },
  });

  app.use('*', requestId({ headerName: 'X-Request-Id' }));
  app.use('*', async (c, next) => {
    c.set('deps', resolved);
    await next();
    c.header('X-Content-Type-Options', 'nosniff');
    // Static assets set their own long cache; everything else is never cached.
    if (!c.res.headers.has('Cache-Control')) c.header('Cache-Control', 'no-store');
  });
  app.use('*', observeRequests);
  app.use('/v1/*', async (c, next) => {
    if (OWN_BODY_LIMIT.test(c.req.path)) return next();
    return bodyLimit({
      maxSize: resolved.limits.jsonBodyBytes,
      onError: () => {
        throw new PlumError('payload_too_large', `request body larger than ${resolved.limits.jsonBodyBytes} bytes`, {
          hint: 'split the request (e.g. import targets in several batches)',
        });
      },
    })(c, next);
  });

  app.use('/v1/*', inputGuard(OWN_BODY_LIMIT));

  app.onError((e, c) => {
    const { err, internal } = toApiError(e);
    const log = resolved.log;
    if (internal) log.error({ err: e, requestId: c.get('requestId'), path: c.req.path }, 'request failed');
    else log.debug({ code: err.code, requestId: c.get('requestId'), path: c.req.path }, err.message);
    return respondError(c, err);
  });
  app.notFound((c) => respondError(c, new PlumError('not_found', `no route ${c.req.method} ${c.req.path}`, { hint: 'see /docs for the routes' })));

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key from `plum apikey create --role viewer|operator|admin`, or an agent token on /v1/agent routes.',
  });
  for (const mod of routeModules) mod.register(app);
  registerMcpRoute(app, resolved);

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Plum API',
      version: API_VERSION,
      description: 'Perimeter exposure monitor: targets, scan profiles, runs, investigations, search, hosts, history, rules, agents.',
    },
    servers: [{ url: '/' }],
  });
  // The web interface and the API reference at /docs (assets served from the package, no CDN).
  app.route('/', createWeb(resolved));
  return app;
}
