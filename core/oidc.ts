import { PlumError } from './errors.ts';

/*
 * Single sign-on decisions, pure: which Plum role an OpenID Connect identity gets
 * from its claims, and what its account is named. The flow itself is web/oidc.ts.
 */

export const OIDC_ROLES = ['viewer', 'operator', 'admin'] as const;
export type OidcRole = (typeof OIDC_ROLES)[number];

/** One line of the role mapping: a claim value and the role it grants. */
export interface RoleGrant {
  value: string;
  role: OidcRole;
}

/**
 * Parses PLUM_OIDC_ROLES: `VALUE=ROLE` pairs separated by commas, e.g.
 * `plum-admins=admin,soc=operator,staff=viewer`. Throws a usage error naming the bad pair.
 */
export function parseRoleMap(text: string): RoleGrant[] {
  const grants: RoleGrant[] = [];
  for (const raw of text.split(',')) {
    const pair = raw.trim();
    if (!pair) continue;
    const eq = pair.lastIndexOf('=');
    const value = eq > 0 ? pair.slice(0, eq).trim() : '';
    const role = eq > 0 ? pair.slice(eq + 1).trim() : '';
    if (!value || !(OIDC_ROLES as readonly string[]).includes(role)) {
      throw new PlumError('usage', `invalid PLUM_OIDC_ROLES entry "${pair.slice(0, 80)}"`, {
        hint: `write CLAIM_VALUE=ROLE pairs separated by commas, ROLE one of ${OIDC_ROLES.join(', ')} (e.g. plum-admins=admin,soc=viewer)`,
      });
    }
    grants.push({ value, role: role as OidcRole });
  }
  if (grants.length === 0) {
    throw new PlumError('usage', 'PLUM_OIDC_ROLES maps no claim value to a role', { hint: 'e.g. PLUM_OIDC_ROLES=plum-admins=admin,soc=viewer' });
  }
  return grants;
}

/** The values of a claim (a string or an array of strings), found by a dotted path such as `realm_access.roles`. */
export function claimValues(claims: Record<string, unknown>, path: string): string[] {
  let v: unknown = claims;
  for (const key of path.split('.')) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return [];
    v = (v as Record<string, unknown>)[key];
  }
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}

/** The highest role any of the claim's values grants; undefined when none matches (the login is refused). */
export function roleFromClaims(claims: Record<string, unknown>, claim: string, grants: readonly RoleGrant[]): OidcRole | undefined {
  const values = new Set(claimValues(claims, claim));
  let best: OidcRole | undefined;
  for (const g of grants) {
    if (values.has(g.value) && (best === undefined || OIDC_ROLES.indexOf(g.role) > OIDC_ROLES.indexOf(best))) best = g.role;
  }
  return best;
}

const NAME_CHARS = /[^A-Za-z0-9._@-]+/g;

/**
 * The account name an identity asks for: preferred_username, else email, else the subject, reduced to
 * the characters user names allow (store/repos/users.ts). The caller makes it unique.
 */
export function accountNameOf(claims: Record<string, unknown>): string {
  const pick = [claims.preferred_username, claims.email, claims.sub].find((v): v is string => typeof v === 'string' && v.trim() !== '');
  const name = (pick ?? 'sso-user')
    .replace(NAME_CHARS, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
  return name || 'sso-user';
}

interface OidcSettings {
  PLUM_OIDC_ISSUER?: string;
  PLUM_OIDC_CLIENT_ID?: string;
  PLUM_OIDC_CLIENT_SECRET?: string;
  PLUM_OIDC_CLIENT_SECRET_FILE?: string;
  PLUM_OIDC_REDIRECT_URL?: string;
  PLUM_OIDC_ROLES?: RoleGrant[];
  PLUM_WEB_LOCAL_LOGIN: boolean;
}

/** Single sign-on is all or nothing: an issuer needs a client, a redirect URL and a role mapping; disabling local logins needs it. */
export function checkOidcConfig(c: OidcSettings): void {
  if (!c.PLUM_OIDC_ISSUER) {
    if (!c.PLUM_WEB_LOCAL_LOGIN) {
      throw new PlumError('usage', 'invalid PLUM_WEB_LOCAL_LOGIN: local logins cannot be disabled without single sign-on', {
        hint: 'set PLUM_OIDC_ISSUER and the other PLUM_OIDC_ settings, or unset PLUM_WEB_LOCAL_LOGIN',
      });
    }
    return;
  }
  const missing = (
    [
      ['PLUM_OIDC_CLIENT_ID', c.PLUM_OIDC_CLIENT_ID],
      ['PLUM_OIDC_REDIRECT_URL', c.PLUM_OIDC_REDIRECT_URL],
      ['PLUM_OIDC_ROLES', c.PLUM_OIDC_ROLES],
      ['PLUM_OIDC_CLIENT_SECRET or PLUM_OIDC_CLIENT_SECRET_FILE', c.PLUM_OIDC_CLIENT_SECRET ?? c.PLUM_OIDC_CLIENT_SECRET_FILE],
    ] as const
  ).find(([, v]) => v === undefined);
  if (missing) {
    throw new PlumError('usage', `invalid ${missing[0].split(' ')[0]}: single sign-on (PLUM_OIDC_ISSUER) needs ${missing[0]}`, {
      hint: `set ${missing[0]}, or unset PLUM_OIDC_ISSUER`,
    });
  }
  if (c.PLUM_OIDC_CLIENT_SECRET && c.PLUM_OIDC_CLIENT_SECRET_FILE) {
    throw new PlumError('usage', 'invalid PLUM_OIDC_CLIENT_SECRET: set it or PLUM_OIDC_CLIENT_SECRET_FILE, not both', { hint: 'unset one of them' });
  }
}
