import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import { startServer } from '../../api/server.ts';
import { loadConfig } from '../../core/config.ts';
import { cliEnvOf, type StoreKindName } from '../helpers/db.ts';
import { startTestIdp, type TestIdp } from '../helpers/oidc-provider.ts';
import type { TestApi } from '../api/helpers.ts';
import { startTestWeb, WebClient } from './helpers.ts';

/** The claim values the tests' Plum maps to roles. */
export const ROLE_MAP = 'plum-admins=admin,soc=operator,staff=viewer';

export interface SsoWeb {
  /** The test store and its local users (viewer, operator, admin), served without single sign-on. */
  api: TestApi;
  /** Plum with single sign-on through `idp`. */
  url: string;
  idp: TestIdp;
  /** Each IdP account's groups (changeable between logins). */
  accounts: Record<string, string[]>;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** A test IdP on loopback and a Plum server configured to sign in through it (same store as `api`). */
export async function startSsoWeb(kind: StoreKindName, env: Record<string, string> = {}): Promise<SsoWeb> {
  const api = await startTestWeb(kind);
  // The IdP must know Plum's callback before Plum starts, and Plum the IdP's issuer: Plum's port is chosen first.
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const accounts: Record<string, string[]> = {
    alice: ['plum-admins'],
    bob: ['soc'],
    carol: ['staff', 'soc'],
    eve: ['others'],
    admin: ['staff'],
  };
  const idp = await startTestIdp({ redirectUri: `${url}/login/oidc/callback`, accounts });
  const config = loadConfig({
    ...cliEnvOf(api.config),
    PLUM_OIDC_ISSUER: idp.issuer,
    PLUM_OIDC_CLIENT_ID: idp.clientId,
    PLUM_OIDC_CLIENT_SECRET: idp.clientSecret,
    PLUM_OIDC_REDIRECT_URL: `${url}/login/oidc/callback`,
    PLUM_OIDC_SCOPES: 'openid profile groups',
    PLUM_OIDC_ROLES: ROLE_MAP,
    PLUM_OIDC_NAME: 'Test IdP',
    ...env,
  });
  const server = await startServer({ store: api.store, config }, { host: '127.0.0.1', port });
  return {
    api,
    url,
    idp,
    accounts,
    async close() {
      await server.close();
      await idp.close();
      await api.close();
    },
  };
}

/** Follows redirects (any origin) with the client's cookies; returns the first other answer and its URL. */
export async function follow(client: WebClient, start: string, first?: Response): Promise<{ res: Response; url: string }> {
  let url = start;
  let res = first ?? (await client.get(url));
  for (let hops = 0; res.status >= 301 && res.status <= 308 && hops < 20; hops++) {
    url = new URL(res.headers.get('location')!, url).href;
    res = await client.get(url);
  }
  return { res, url };
}

/**
 * The browser's part of a sign-in, up to the provider's redirect back to Plum: start at Plum, sign in at
 * the IdP as `user`. Returns the callback URL (not yet visited) and the client holding both sites' cookies.
 */
export async function signInAtIdp(sso: SsoWeb, user: string, next = '/'): Promise<{ client: WebClient; callback: string }> {
  const client = new WebClient('');
  const { res, url } = await follow(client, `${sso.url}/login/oidc?${new URLSearchParams({ next })}`);
  expect(res.status, await res.clone().text()).toBe(200);
  const action = /<form method="post" action="([^"]+)"/.exec(await res.text())![1]!;
  let answer = await client.post(new URL(action, url).href, { login: user });
  let at = new URL(action, url).href;
  // Redirects inside the IdP, until it sends the browser back to Plum.
  while (answer.status >= 301 && answer.status <= 308) {
    const location = new URL(answer.headers.get('location')!, at).href;
    if (location.startsWith(`${sso.url}/`)) return { client, callback: location };
    at = location;
    answer = await client.get(location);
  }
  throw new Error(`the IdP did not send the browser back (HTTP ${answer.status}): ${(await answer.text()).slice(0, 300)}`);
}

/** A whole sign-in; returns Plum's answer to the callback. */
export async function ssoLogin(sso: SsoWeb, user: string, next = '/'): Promise<{ client: WebClient; res: Response; callback: string }> {
  const { client, callback } = await signInAtIdp(sso, user, next);
  return { client, callback, res: await client.get(callback) };
}
