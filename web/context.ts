import type { ResolvedDeps } from '../api/context.ts';
import type { UserInfo, WebSession } from '../store/repos/users.ts';

/** How long a web session lives without use (sliding). */
export const SESSION_TTL_MS = 8 * 60 * 60_000;

export interface WebOptions {
  /** Secure cookies: 'auto' sets them when the request came over HTTPS (directly or via X-Forwarded-Proto). */
  secureCookies: 'auto' | 'always' | 'never';
  /** Link base of the Temporal UI (distributed mode), for a run's workflow. */
  temporalUi?: string;
  /** Name and password logins (PLUM_WEB_LOCAL_LOGIN). */
  localLogin: boolean;
  /** Single sign-on, when configured (web/oidc.ts). */
  sso?: import('./oidc.ts').OidcRelyingParty;
}

export interface WebEnv {
  Variables: {
    requestId: string;
    deps: ResolvedDeps;
    session?: WebSession;
    user: UserInfo;
  };
}
