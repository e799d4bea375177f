import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { accountNameOf, claimValues, parseRoleMap, roleFromClaims } from './oidc.ts';

describe('parseRoleMap', () => {
  it('reads VALUE=ROLE pairs, spaces and empty entries ignored', () => {
    expect(parseRoleMap(' plum-admins=admin, soc = operator,,staff=viewer ')).toEqual([
      { value: 'plum-admins', role: 'admin' },
      { value: 'soc', role: 'operator' },
      { value: 'staff', role: 'viewer' },
    ]);
  });

  it('keeps an = inside the value (the role is after the last one)', () => {
    expect(parseRoleMap('cn=plum=viewer')).toEqual([{ value: 'cn=plum', role: 'viewer' }]);
  });

  it.each([
    ['plum-admins=root', 'invalid PLUM_OIDC_ROLES entry "plum-admins=root"'],
    ['admin', 'invalid PLUM_OIDC_ROLES entry "admin"'],
    ['=admin', 'invalid PLUM_OIDC_ROLES entry "=admin"'],
    [' , ', 'PLUM_OIDC_ROLES maps no claim value to a role'],
  ])('refuses %j', (text, message) => {
    expect(() => parseRoleMap(text)).toThrow(message);
  });
});

describe('roleFromClaims', () => {
  const grants = parseRoleMap('plum-admins=admin,soc=operator,staff=viewer');
  it.each([
    [{ groups: ['staff'] }, 'groups', 'viewer'],
    [{ groups: ['staff', 'plum-admins', 'soc'] }, 'groups', 'admin'],
    [{ groups: 'soc' }, 'groups', 'operator'],
    [{ realm_access: { roles: ['soc'] } }, 'realm_access.roles', 'operator'],
    [{ groups: ['others'] }, 'groups', undefined],
    [{ groups: [] }, 'groups', undefined],
    [{}, 'groups', undefined],
    [{ groups: [{ name: 'plum-admins' }] }, 'groups', undefined],
    [{ groups: ['PLUM-ADMINS'] }, 'groups', undefined],
    [{ roles: ['plum-admins'] }, 'groups', undefined],
  ])('%j by claim %s gives %s', (claims, claim, role) => {
    expect(roleFromClaims(claims, claim, grants)).toBe(role);
  });

  it('reads no value through a non-object on the path', () => {
    expect(claimValues({ a: 'x' }, 'a.b')).toEqual([]);
    expect(claimValues({ a: ['x'] }, 'a.0')).toEqual([]);
  });
});

describe('accountNameOf', () => {
  it.each([
    [{ preferred_username: 'alice', email: 'a@example.org', sub: 's1' }, 'alice'],
    [{ email: 'bob@example.org', sub: 's2' }, 'bob@example.org'],
    [{ sub: 'c3d4' }, 'c3d4'],
    [{ preferred_username: 'Jean Dupont/ops', sub: 's3' }, 'Jean-Dupont-ops'],
    [{ preferred_username: '__x', sub: 's4' }, 'x'],
    [{ preferred_username: '  ', sub: '' }, 'sso-user'],
    [{ preferred_username: '///', sub: 's5' }, 'sso-user'],
    [{ preferred_username: 'x'.repeat(100) }, 'x'.repeat(64)],
  ])('%j is named %s', (claims, name) => {
    expect(accountNameOf(claims)).toBe(name);
  });
});

describe('single sign-on configuration (loadConfig)', () => {
  const full = {
    PLUM_OIDC_ISSUER: 'https://idp.example.org',
    PLUM_OIDC_CLIENT_ID: 'plum',
    PLUM_OIDC_CLIENT_SECRET: 's3cret',
    PLUM_OIDC_REDIRECT_URL: 'https://plum.example.org/login/oidc/callback',
    PLUM_OIDC_ROLES: 'soc=viewer',
  };

  it('reads a complete configuration, the mapping parsed', () => {
    const c = loadConfig(full);
    expect(c.PLUM_OIDC_ROLES).toEqual([{ value: 'soc', role: 'viewer' }]);
    expect(c.PLUM_OIDC_ROLE_CLAIM).toBe('groups');
    expect(c.PLUM_WEB_LOCAL_LOGIN).toBe(true);
    expect(loadConfig({}).PLUM_OIDC_ISSUER).toBeUndefined();
  });

  it.each([
    [{ PLUM_OIDC_CLIENT_ID: '' }, 'invalid PLUM_OIDC_CLIENT_ID: single sign-on (PLUM_OIDC_ISSUER) needs PLUM_OIDC_CLIENT_ID'],
    [{ PLUM_OIDC_ROLES: '' }, 'invalid PLUM_OIDC_ROLES: single sign-on (PLUM_OIDC_ISSUER) needs PLUM_OIDC_ROLES'],
    [{ PLUM_OIDC_CLIENT_SECRET: '' }, 'single sign-on (PLUM_OIDC_ISSUER) needs PLUM_OIDC_CLIENT_SECRET or PLUM_OIDC_CLIENT_SECRET_FILE'],
    [{ PLUM_OIDC_CLIENT_SECRET_FILE: '/run/secret' }, 'set it or PLUM_OIDC_CLIENT_SECRET_FILE, not both'],
    [{ PLUM_OIDC_ROLES: 'soc=root' }, 'invalid PLUM_OIDC_ROLES: invalid PLUM_OIDC_ROLES entry "soc=root"'],
    [
      { PLUM_OIDC_REDIRECT_URL: 'https://plum.example.org/callback' },
      "invalid PLUM_OIDC_REDIRECT_URL: must be this server's URL ending in /login/oidc/callback",
    ],
    [{ PLUM_OIDC_ISSUER: 'idp.example.org' }, 'invalid PLUM_OIDC_ISSUER: must be an http(s) URL'],
    [{ PLUM_OIDC_ISSUER: '', PLUM_WEB_LOCAL_LOGIN: 'false' }, 'local logins cannot be disabled without single sign-on'],
  ])('refuses %j with one line naming the variable', (over, message) => {
    expect(() => loadConfig({ ...full, ...over })).toThrow(message);
  });
});
