import { createHash, randomBytes } from 'node:crypto';
import { and, asc, eq, lt, sql } from 'drizzle-orm';
import { PlumError } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import { checkPasswordPolicy, decoyHash, hashPassword, verifyPassword } from '../../core/passwords.ts';
import type { Store, StoreSession } from '../index.ts';
import { API_KEY_ROLES, type ApiKeyRole } from '../schema/api-keys.ts';
import { users, type UserRow } from '../schema/users.ts';
import { webSessions } from '../schema/web-sessions.ts';

export type UserRole = ApiKeyRole;
export const USER_ROLES = API_KEY_ROLES;

/** What pages and listings may show: never the hash. */
export interface UserInfo {
  id: string;
  name: string;
  role: UserRole;
  createdAt: string;
  lastLoginAt: string | null;
  lockedUntil: string | null;
  failedLogins: number;
}

const info = (r: UserRow): UserInfo => ({
  id: r.id,
  name: r.name,
  role: r.role,
  createdAt: r.createdAt.toISOString(),
  lastLoginAt: r.lastLoginAt?.toISOString() ?? null,
  lockedUntil: r.lockedUntil?.toISOString() ?? null,
  failedLogins: r.failedLogins,
});

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export function checkUserName(name: string): string {
  if (!NAME.test(name)) {
    throw new PlumError('invalid_input', `invalid user name "${name.slice(0, 80)}"`, {
      hint: 'use 1 to 64 letters, digits, dots, dashes, underscores or @, starting with a letter or digit',
    });
  }
  return name;
}

export function parseUserRole(role: string): UserRole {
  if ((USER_ROLES as readonly string[]).includes(role)) return role as UserRole;
  throw new PlumError('invalid_input', `unknown role "${role}"`, { hint: `use one of ${USER_ROLES.join(', ')}` });
}

/** When repeated failures lock an account, and for how long. */
export interface LockoutPolicy {
  maxFailures: number;
  lockMs: number;
}
export const DEFAULT_LOCKOUT: LockoutPolicy = { maxFailures: 5, lockMs: 15 * 60_000 };

export async function createUser(store: StoreSession, input: { name: string; role: string; password: string }): Promise<UserInfo> {
  const name = checkUserName(input.name);
  const role = parseUserRole(input.role);
  checkPasswordPolicy(input.password);
  const [existing] = await store.db.select({ id: users.id }).from(users).where(eq(users.name, name));
  if (existing) throw new PlumError('conflict', `user ${name} already exists`, { hint: `change its password with \`plum user passwd ${name}\`` });
  const [row] = await store.db
    .insert(users)
    .values({ id: newId('usr'), name, role, passwordHash: await hashPassword(input.password) })
    .returning();
  return info(row!);
}

export async function listUsers(store: StoreSession): Promise<UserInfo[]> {
  return (await store.db.select().from(users).orderBy(asc(users.name))).map(info);
}

async function userRow(store: StoreSession, name: string): Promise<UserRow> {
  const [row] = await store.db.select().from(users).where(eq(users.name, name));
  if (!row) throw new PlumError('not_found', `no user ${name}`, { hint: 'list users with `plum user list`' });
  return row;
}

export async function getUser(store: StoreSession, name: string): Promise<UserInfo> {
  return info(await userRow(store, name));
}

/** Sets a new password, clears any lockout and ends the user's sessions. */
export async function setUserPassword(store: StoreSession, name: string, password: string): Promise<UserInfo> {
  checkPasswordPolicy(password);
  const row = await userRow(store, name);
  const hash = await hashPassword(password);
  const [updated] = await store.db
    .update(users)
    .set({ passwordHash: hash, passwordChangedAt: new Date(), failedLogins: 0, lockedUntil: null })
    .where(eq(users.id, row.id))
    .returning();
  await store.db.delete(webSessions).where(eq(webSessions.userId, row.id));
  return info(updated!);
}

/** Changes a role; the user's sessions end so the new role applies at once. */
export async function setUserRole(store: StoreSession, name: string, role: string): Promise<UserInfo> {
  const r = parseUserRole(role);
  const row = await userRow(store, name);
  const [updated] = await store.db.update(users).set({ role: r }).where(eq(users.id, row.id)).returning();
  await store.db.delete(webSessions).where(eq(webSessions.userId, row.id));
  return info(updated!);
}

/** Removes a user and their sessions. */
export async function removeUser(store: StoreSession, name: string): Promise<UserInfo> {
  const row = await userRow(store, name);
  await store.db.delete(users).where(eq(users.id, row.id));
  return info(row);
}

/** Clears a lockout (an admin's decision). */
export async function unlockUser(store: StoreSession, name: string): Promise<UserInfo> {
  const row = await userRow(store, name);
  const [updated] = await store.db.update(users).set({ failedLogins: 0, lockedUntil: null }).where(eq(users.id, row.id)).returning();
  return info(updated!);
}

export type LoginResult = { ok: true; user: UserInfo } | { ok: false; reason: 'invalid' } | { ok: false; reason: 'locked'; until: Date };

/**
 * Checks a login. An unknown name costs the same hash as a known one. Every
 * failure counts; at `maxFailures` the account locks for `lockMs`, and while
 * locked even the right password is refused (so guessing cannot continue).
 */
export async function verifyLogin(
  store: StoreSession,
  name: string,
  password: string,
  policy: LockoutPolicy = DEFAULT_LOCKOUT,
  now = new Date(),
): Promise<LoginResult> {
  const [row] = NAME.test(name) ? await store.db.select().from(users).where(eq(users.name, name)) : [];
  if (!row) {
    await verifyPassword(password, await decoyHash());
    return { ok: false, reason: 'invalid' };
  }
  if (row.lockedUntil && row.lockedUntil > now) return { ok: false, reason: 'locked', until: row.lockedUntil };
  if (await verifyPassword(password, row.passwordHash)) {
    const [updated] = await store.db.update(users).set({ failedLogins: 0, lockedUntil: null, lastLoginAt: now }).where(eq(users.id, row.id)).returning();
    return { ok: true, user: info(updated!) };
  }
  // One statement, so concurrent failures all count.
  const [counted] = await store.db
    .update(users)
    .set({ failedLogins: sql`${users.failedLogins} + 1` })
    .where(eq(users.id, row.id))
    .returning({ failedLogins: users.failedLogins });
  if (counted && counted.failedLogins >= policy.maxFailures) {
    const until = new Date(now.getTime() + policy.lockMs);
    await store.db.update(users).set({ lockedUntil: until, failedLogins: 0 }).where(eq(users.id, row.id));
    return { ok: false, reason: 'locked', until };
  }
  return { ok: false, reason: 'invalid' };
}

const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

export interface WebSession {
  user: UserInfo;
  csrfToken: string;
  expiresAt: Date;
}

/** Opens a session; the secret goes in the cookie and is never stored. */
export async function createWebSession(store: StoreSession, userId: string, ttlMs: number, now = new Date()): Promise<{ secret: string; csrfToken: string }> {
  const secret = randomBytes(32).toString('base64url');
  const csrfToken = randomBytes(32).toString('base64url');
  await store.db.insert(webSessions).values({ id: sha256Hex(secret), userId, csrfToken, expiresAt: new Date(now.getTime() + ttlMs) });
  // Expired sessions go on the way (cheap, indexed).
  await store.db.delete(webSessions).where(lt(webSessions.expiresAt, now));
  return { secret, csrfToken };
}

/** The live session for a cookie secret; idle sessions expire (sliding by `ttlMs`). */
export async function findWebSession(store: Store | StoreSession, secret: string, ttlMs: number, now = new Date()): Promise<WebSession | undefined> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(secret)) return undefined;
  const id = sha256Hex(secret);
  const [row] = await store.db
    .select({ s: webSessions, u: users })
    .from(webSessions)
    .innerJoin(users, eq(users.id, webSessions.userId))
    .where(eq(webSessions.id, id));
  if (!row || row.s.expiresAt <= now) return undefined;
  // Sliding expiry, written at most once a minute.
  let expiresAt = row.s.expiresAt;
  if (now.getTime() - row.s.lastSeenAt.getTime() > 60_000) {
    expiresAt = new Date(now.getTime() + ttlMs);
    await store.db
      .update(webSessions)
      .set({ lastSeenAt: now, expiresAt })
      .where(and(eq(webSessions.id, id)));
  }
  return { user: info(row.u), csrfToken: row.s.csrfToken, expiresAt };
}

export async function deleteWebSession(store: Store | StoreSession, secret: string): Promise<void> {
  await store.db.delete(webSessions).where(eq(webSessions.id, sha256Hex(secret)));
}

/** The password hash of single sign-on accounts: no password matches it (core/passwords.ts verifyPassword). */
export const NO_PASSWORD = 'oidc$';

/**
 * The account of a single sign-on identity (`subject`: ISSUER SUBJECT), created on its first login with the
 * name it asks for (or that name with a suffix from its subject, when a local account already has it), and
 * given the role its claims map to on every login. A changed role ends the account's other sessions.
 */
export async function upsertOidcUser(store: StoreSession, input: { subject: string; name: string; role: UserRole }, now = new Date()): Promise<UserInfo> {
  const [row] = await store.db.select().from(users).where(eq(users.oidcSubject, input.subject));
  if (row) {
    const [updated] = await store.db.update(users).set({ role: input.role, lastLoginAt: now }).where(eq(users.id, row.id)).returning();
    if (row.role !== input.role) await store.db.delete(webSessions).where(eq(webSessions.userId, row.id));
    return info(updated!);
  }
  let name = checkUserName(input.name);
  const [taken] = await store.db.select({ id: users.id }).from(users).where(eq(users.name, name));
  if (taken) name = `${name.slice(0, 56)}-${sha256Hex(input.subject).slice(0, 7)}`;
  await store.db
    .insert(users)
    .values({ id: newId('usr'), name, role: input.role, passwordHash: NO_PASSWORD, oidcSubject: input.subject, lastLoginAt: now })
    .onConflictDoNothing({ target: users.oidcSubject });
  const [created] = await store.db.select().from(users).where(eq(users.oidcSubject, input.subject));
  return info(created!);
}

/** Ends the sessions of a single sign-on identity whose claims no longer map to a role. */
export async function endOidcUserSessions(store: StoreSession, subject: string): Promise<void> {
  const [row] = await store.db.select({ id: users.id }).from(users).where(eq(users.oidcSubject, subject));
  if (row) await store.db.delete(webSessions).where(eq(webSessions.userId, row.id));
}
