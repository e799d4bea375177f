import { readFile } from 'node:fs/promises';
import * as oidc from 'openid-client';
import type { PlumConfig } from '../core/config.ts';
import { PlumError } from '../core/errors.ts';
import { accountNameOf, claimValues, roleFromClaims, type OidcRole, type RoleGrant } from '../core/oidc.ts';

/*
 * The relying party of single sign-on (OpenID Connect, authorization code flow with PKCE, state and nonce),
 * through openid-client. The pages that drive it are web/pages/sso.tsx.
 */

/** What the browser must bring back to the callback: kept in a short-lived HttpOnly cookie between the two. */
export interface PendingLogin {
  state: string;
  nonce: string;
  verifier: string;
  next: string;
}

export interface SsoIdentity {
  /** `ISSUER SUBJECT`: the account's key (users.oidc_subject). */
  subject: string;
  /** The account name the identity asks for (made unique by the store). */
  name: string;
  /** undefined: no value of the role claim is mapped, the login is refused. */
  role?: OidcRole;
  /** The role claim's values, shown when the login is refused. */
  claimValues: string[];
}

export interface OidcRelyingParty {
  /** The provider's name on the login page. */
  label: string;
  /** Where to send the browser, and what its callback must match. */
  begin(next: string): Promise<{ url: URL; pending: PendingLogin }>;
  /** Checks the callback (state, code exchange with the PKCE verifier, ID token and its nonce) and reads the identity. */
  finish(callback: URL, pending: PendingLogin): Promise<SsoIdentity>;
}

/** Loopback issuers (tests, a provider on the same machine) may use plain HTTP; any other must use HTTPS. */
function isLoopback(url: URL): boolean {
  return url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
}

/** The relying party of the configuration, or undefined when single sign-on is not configured. */
export function createRelyingParty(config: PlumConfig): OidcRelyingParty | undefined {
  const issuerUrl = config.PLUM_OIDC_ISSUER;
  if (!issuerUrl) return undefined;
  const issuer = new URL(issuerUrl);
  const redirectUri = config.PLUM_OIDC_REDIRECT_URL!;
  const grants: RoleGrant[] = config.PLUM_OIDC_ROLES!;
  const roleClaim = config.PLUM_OIDC_ROLE_CLAIM;
  // Discovery happens on the first login, and again after a failure (the provider may have been down).
  let discovered: Promise<oidc.Configuration> | undefined;
  const configuration = (): Promise<oidc.Configuration> => {
    discovered ??= (async () => {
      const secret = config.PLUM_OIDC_CLIENT_SECRET ?? (await readFile(config.PLUM_OIDC_CLIENT_SECRET_FILE!, 'utf8')).trim();
      return oidc.discovery(issuer, config.PLUM_OIDC_CLIENT_ID!, secret, undefined, {
        execute: isLoopback(issuer) && issuer.protocol === 'http:' ? [oidc.allowInsecureRequests] : [],
        timeout: 10,
      });
    })();
    discovered.catch(() => {
      discovered = undefined;
    });
    return discovered.catch((e: unknown) => {
      throw new PlumError('unavailable', `the single sign-on provider ${issuer.origin} cannot be reached: ${(e as Error).message}`, {
        hint: 'try again in a moment; if it persists, check PLUM_OIDC_ISSUER and the provider',
      });
    });
  };

  return {
    label: config.PLUM_OIDC_NAME,
    async begin(next) {
      const cfg = await configuration();
      const pending: PendingLogin = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier: oidc.randomPKCECodeVerifier(), next };
      const url = oidc.buildAuthorizationUrl(cfg, {
        redirect_uri: redirectUri,
        scope: config.PLUM_OIDC_SCOPES,
        code_challenge: await oidc.calculatePKCECodeChallenge(pending.verifier),
        code_challenge_method: 'S256',
        state: pending.state,
        nonce: pending.nonce,
      });
      return { url, pending };
    },
    async finish(callback, pending) {
      const cfg = await configuration();
      let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
      try {
        tokens = await oidc.authorizationCodeGrant(cfg, callback, {
          pkceCodeVerifier: pending.verifier,
          expectedState: pending.state,
          expectedNonce: pending.nonce,
          idTokenExpected: true,
        });
      } catch (e) {
        throw new PlumError('forbidden', `single sign-on refused: ${refusal(e)}`, { hint: 'start again from the login page' });
      }
      const idClaims = tokens.claims()!;
      let claims: Record<string, unknown> = { ...idClaims };
      // Providers often put profile and group claims in the userinfo response only.
      if (cfg.serverMetadata().userinfo_endpoint) {
        const info = await oidc.fetchUserInfo(cfg, tokens.access_token, idClaims.sub);
        claims = { ...info, ...idClaims };
      }
      return {
        subject: `${idClaims.iss} ${idClaims.sub}`,
        name: accountNameOf(claims),
        role: roleFromClaims(claims, roleClaim, grants),
        claimValues: claimValues(claims, roleClaim),
      };
    },
  };
}

/** One line on why a callback failed: the provider's error, or what did not match. */
function refusal(e: unknown): string {
  if (e instanceof oidc.AuthorizationResponseError) return `the provider answered ${e.error}${e.error_description ? ` (${e.error_description})` : ''}`;
  if (e instanceof oidc.ResponseBodyError) return `the provider refused the code: ${e.error}${e.error_description ? ` (${e.error_description})` : ''}`;
  // openid-client wraps what failed (the state, a claim of the ID token...) in a generic message.
  const cause = (e as Error).cause;
  return cause instanceof Error && cause.message ? cause.message : (e as Error).message;
}
