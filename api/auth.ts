import type { Context, Env, MiddlewareHandler } from 'hono';
import { article } from '../core/plural.ts';
import { rateLimiter } from 'hono-rate-limiter';
import { PlumError } from '../core/errors.ts';
import { authenticateAgentToken } from '../store/repos/agents.ts';
import { authenticateApiKey, type ApiKeyRole } from '../store/repos/apikeys.ts';
import type { ApiEnv, ResolvedDeps } from './context.ts';

const RANK: Record<ApiKeyRole, number> = { viewer: 1, operator: 2, admin: 3 };

/** The one role order, shared by API keys and web users: admin ⊃ operator ⊃ viewer. */
export function roleAtLeast(have: ApiKeyRole, need: ApiKeyRole): boolean {
  return RANK[have] >= RANK[need];
}

function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) {
    throw new PlumError('unauthorized', 'the Authorization header is not "Bearer <key>"', {
      hint: 'send Authorization: Bearer <key> with a key from `plum apikey create`',
    });
  }
  return m[1];
}

/**
 * Requires an API key with at least `role`: viewer reads; operator also manages
 * targets and profiles and starts investigations; admin also manages keys and agents.
 * No/unknown/revoked key: 401. Known key with a lower role, or an agent token: 403.
 */
export function requireRole(role: ApiKeyRole): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const secret = bearer(c.req.header('authorization'));
    if (!secret) {
      throw new PlumError('unauthorized', 'missing API key', { hint: 'send Authorization: Bearer <key> with a key from `plum apikey create`' });
    }
    if (secret.startsWith('plum_a_')) {
      throw new PlumError('forbidden', 'agent tokens cannot call this route', { hint: 'use an API key (`plum apikey create`)' });
    }
    const key = await authenticateApiKey(c.var.deps.store, secret);
    if (!key) throw new PlumError('unauthorized', 'invalid API key', { hint: 'check the key, or create one with `plum apikey create`' });
    if (key.revokedAt) throw new PlumError('unauthorized', 'API key revoked', { hint: 'create a new key with `plum apikey create`' });
    if (!roleAtLeast(key.role, role)) {
      throw new PlumError('forbidden', `this route needs the ${role} role (the key has ${key.role})`, {
        hint: `ask an admin for ${article(role)} key`,
      });
    }
    c.set('principal', { kind: 'key', key, role: key.role, name: `key:${key.id}` });
    await next();
  };
}

/** Requires an agent token (distinct from API keys, bound to one agent, revocable). */
export function requireAgent(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const secret = bearer(c.req.header('authorization'));
    if (!secret) {
      throw new PlumError('unauthorized', 'missing agent token', { hint: 'send Authorization: Bearer <token> with a token from `plum agent-token create`' });
    }
    if (secret.startsWith('plum_k_')) {
      throw new PlumError('forbidden', 'this route needs an agent token, not an API key', { hint: 'create one with `plum agent-token create --agent <name>`' });
    }
    const hit = await authenticateAgentToken(c.var.deps.store, secret);
    if (!hit) throw new PlumError('unauthorized', 'invalid agent token', { hint: 'check the token, or issue one with `plum agent-token create`' });
    if ('revoked' in hit) {
      throw hit.agentDisabled
        ? new PlumError('unauthorized', 'agent disabled', { hint: 'an admin can enable it again with PATCH /v1/agents/{id}' })
        : new PlumError('unauthorized', 'agent token revoked', { hint: 'issue a new token with `plum agent-token create`' });
    }
    c.set('principal', { kind: 'agent', agent: hit.agent, tokenId: hit.tokenId, name: `agent:${hit.agent.name}` });
    await next();
  };
}

/**
 * The budget of expensive reads: at most `limits.expensivePerMinute` requests a minute per key, one limiter per
 * server (its deps) kept in `cache`. The API and the web pages differ only in the key and the refusal.
 */
export function expensiveLimiterOf<E extends Env>(
  cache: WeakMap<ResolvedDeps, MiddlewareHandler<E>>,
  deps: ResolvedDeps,
  keyGenerator: (c: Context<E>) => string,
  refusal: () => PlumError,
): MiddlewareHandler<E> {
  let limiter = cache.get(deps);
  if (!limiter) {
    limiter = rateLimiter<E>({
      windowMs: 60_000,
      limit: deps.limits.expensivePerMinute,
      standardHeaders: 'draft-6',
      keyGenerator,
      handler: () => {
        throw refusal();
      },
    });
    cache.set(deps, limiter);
  }
  return limiter;
}

const limiters = new WeakMap<ResolvedDeps, MiddlewareHandler<ApiEnv>>();

/**
 * Rate limit for expensive routes, per authenticated principal (so it must come
 * after requireRole/requireAgent): `limits.expensivePerMinute` requests a minute.
 */
export const expensive: MiddlewareHandler<ApiEnv> = async (c, next) => {
  const deps = c.var.deps;
  const limiter = expensiveLimiterOf<ApiEnv>(
    limiters,
    deps,
    (ctx) => `${ctx.var.principal?.name ?? 'anonymous'} ${ctx.req.method} ${ctx.req.routePath}`,
    () =>
      new PlumError('rate_limited', `too many requests: at most ${deps.limits.expensivePerMinute} a minute on this route`, {
        hint: 'wait a minute, or page through results instead of repeating the request',
      }),
  );
  return limiter(c, next);
};

/**
 * `expensive` only for the requests `isHeavy` picks, so that the cheap common case of a route
 * (a host page with its recent events) is not limited while its heavy form is.
 */
export function expensiveWhen(isHeavy: (c: Context<ApiEnv>) => boolean): MiddlewareHandler<ApiEnv> {
  return async (c, next) => (isHeavy(c) ? expensive(c, next) : next());
}
