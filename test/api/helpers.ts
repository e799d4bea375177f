import type { EventsSignal } from '../../store/events-signal.ts';
import { expect } from 'vitest';
import type { PlumConfig } from '../../core/config.ts';
import type { ApiLimits, ApiServices } from '../../api/context.ts';
import { startServer, type RunningServer } from '../../api/server.ts';
import { createAgentToken, revokeAgentToken } from '../../store/repos/agents.ts';
import { createApiKey, revokeApiKey } from '../../store/repos/apikeys.ts';
import { openTestStore, type StoreKindName, type TestStore } from '../helpers/db.ts';

/** A real API server on a loopback port over a real database, with a key per role and two agents. */
export interface TestApi extends TestStore {
  server: RunningServer;
  keys: { viewer: string; operator: string; admin: string; revoked: string };
  agents: { a: { token: string; name: string; id: string }; b: { token: string; name: string; id: string }; revokedToken: string };
  /** fetch against the server with an optional bearer secret. */
  call(path: string, init?: RequestInit & { auth?: string; json?: unknown }): Promise<Response>;
  close(): Promise<void>;
}

export async function startTestApi(kind: StoreKindName, opts: { limits?: Partial<ApiLimits>; services?: ApiServices; share?: boolean } = {}): Promise<TestApi> {
  const ts = await openTestStore(kind, {}, { share: opts.share });
  const { store, config } = ts;
  const viewer = (await createApiKey(store, { role: 'viewer', name: 'v' })).key;
  const operator = (await createApiKey(store, { role: 'operator', name: 'o' })).key;
  const admin = (await createApiKey(store, { role: 'admin', name: 'a' })).key;
  const rev = await createApiKey(store, { role: 'admin', name: 'revoked' });
  await revokeApiKey(store, rev.info.id);
  const a = await createAgentToken(store, { agent: 'agent-a' });
  const b = await createAgentToken(store, { agent: 'agent-b' });
  const ra = await createAgentToken(store, { agent: 'agent-a' });
  await revokeAgentToken(store, ra.info.id);
  const server = await startServer({ store, config, limits: opts.limits, services: opts.services }, { host: '127.0.0.1', port: 0 });
  return {
    ...ts,
    server,
    keys: { viewer, operator, admin, revoked: rev.key },
    agents: {
      a: { token: a.token, name: a.agent.name, id: a.agent.id },
      b: { token: b.token, name: b.agent.name, id: b.agent.id },
      revokedToken: ra.token,
    },
    call: clientOf(server),
    async close() {
      await server.close();
      await ts.cleanup();
    },
  };
}

/** A fetch for one server: `auth` becomes a Bearer header, `json` a JSON body. */
function clientOf(server: RunningServer): TestApi['call'] {
  return (path, init = {}) => {
    const headers = new Headers(init.headers);
    if (init.auth) headers.set('authorization', `Bearer ${init.auth}`);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(init.json);
    }
    return fetch(`${server.url}${path}`, { ...init, headers, body });
  };
}

/** Asserts the one error body shape and returns it. */
export async function expectError(res: Response, status: number, code: string, message?: string | RegExp) {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  const body = JSON.parse(text) as { error: { code: string; message: string; requestId: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.requestId).toMatch(/\S/);
  expect(res.headers.get('x-request-id')).toBe(body.error.requestId);
  expect(text).not.toMatch(/\bat .*\.ts:\d+/); // no stack traces
  if (message instanceof RegExp) expect(body.error.message).toMatch(message);
  else if (message !== undefined) expect(body.error.message).toBe(message);
  return body.error;
}

/**
 * The security triplet every protected route must pass: no key → 401, revoked
 * key → 401, a role below `role` → 403, an agent token → 403.
 */
export async function expectSecured(api: TestApi, method: string, path: string, role: 'viewer' | 'operator' | 'admin', json?: unknown) {
  const init = (auth?: string) => ({ method, auth, ...(json !== undefined ? { json } : {}) });
  await expectError(await api.call(path, init()), 401, 'unauthorized', 'missing API key');
  await expectError(await api.call(path, init('plum_k_notarealkeyatall')), 401, 'unauthorized', 'invalid API key');
  await expectError(await api.call(path, init(api.keys.revoked)), 401, 'unauthorized', 'API key revoked');
  await expectError(await api.call(path, init(api.agents.a.token)), 403, 'forbidden', 'agent tokens cannot call this route');
  const lower = role === 'admin' ? (['viewer', 'operator'] as const) : role === 'operator' ? (['viewer'] as const) : [];
  for (const r of lower) {
    await expectError(await api.call(path, init(api.keys[r])), 403, 'forbidden', `this route needs the ${role} role (the key has ${r})`);
  }
}

/** A second server over the same test store (other services), sharing its keys; close() only stops the server. */
export async function startTestApiOn(
  base: TestApi,
  services: ApiServices | undefined,
  limits?: Partial<ApiLimits>,
  config: PlumConfig = base.config,
  events?: EventsSignal,
): Promise<Pick<TestApi, 'call' | 'close' | 'server'>> {
  const server = await startServer({ store: base.store, config, services, limits, events }, { host: '127.0.0.1', port: 0 });
  return {
    server,
    call: clientOf(server),
    close: () => server.close(),
  };
}
