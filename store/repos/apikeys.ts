import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, desc, eq, isNull } from 'drizzle-orm';
import { PlumError } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import type { Store, StoreSession } from '../index.ts';
import { API_KEY_ROLES, apiKeys, type ApiKeyRole, type ApiKeyRow } from '../schema/api-keys.ts';

export { API_KEY_ROLES, type ApiKeyRole };

/** Secrets are `<kind>_<43 base64url chars>` (256 random bits). */
const SECRET_BYTES = 32;
const API_KEY_PREFIX = 'plum_k_';
const PREFIX_SHOWN = 12;

export const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

export function newSecret(kind: string): string {
  return `${kind}${randomBytes(SECRET_BYTES).toString('base64url')}`;
}

/** What a listing may show: never the hash. */
export interface ApiKeyInfo {
  id: string;
  name: string;
  role: ApiKeyRole;
  prefix: string;
  createdBy: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

const info = (r: ApiKeyRow): ApiKeyInfo => ({
  id: r.id,
  name: r.name,
  role: r.role,
  prefix: r.prefix,
  createdBy: r.createdBy,
  createdAt: r.createdAt.toISOString(),
  lastUsedAt: r.lastUsedAt?.toISOString() ?? null,
  revokedAt: r.revokedAt?.toISOString() ?? null,
});

export function parseRole(role: string): ApiKeyRole {
  if ((API_KEY_ROLES as readonly string[]).includes(role)) return role as ApiKeyRole;
  throw new PlumError('usage', `unknown role "${role}"`, { hint: `use one of ${API_KEY_ROLES.join(', ')}` });
}

/** Creates a key; the secret is returned once and never stored. */
export async function createApiKey(
  store: StoreSession,
  input: { role: ApiKeyRole; name?: string; createdBy?: string },
): Promise<{ key: string; info: ApiKeyInfo }> {
  const role = parseRole(input.role);
  const key = newSecret(API_KEY_PREFIX);
  const id = newId('key');
  const name = input.name?.trim() || `${role} key`;
  if (name.length > 200) throw new PlumError('invalid_input', 'key name is longer than 200 characters', { hint: 'use a shorter --name' });
  const [row] = await store.db
    .insert(apiKeys)
    .values({
      id,
      name,
      role,
      prefix: key.slice(0, PREFIX_SHOWN),
      hash: sha256Hex(key),
      createdBy: input.createdBy ?? null,
    })
    .returning();
  return { key, info: info(row!) };
}

export async function listApiKeys(store: StoreSession, opts: { includeRevoked?: boolean } = {}): Promise<ApiKeyInfo[]> {
  const rows = await store.db
    .select()
    .from(apiKeys)
    .where(opts.includeRevoked ? undefined : isNull(apiKeys.revokedAt))
    .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id));
  return rows.map(info);
}

export async function getApiKey(store: StoreSession, id: string): Promise<ApiKeyInfo> {
  const [row] = await store.db.select().from(apiKeys).where(eq(apiKeys.id, id));
  if (!row) throw new PlumError('not_found', `no API key ${id}`, { hint: 'list keys with `plum apikey list`' });
  return info(row);
}

/** Revokes a key (idempotent: revoking twice keeps the first time). */
export async function revokeApiKey(store: StoreSession, id: string): Promise<ApiKeyInfo> {
  const existing = await getApiKey(store, id);
  if (existing.revokedAt) return existing;
  const [row] = await store.db
    .update(apiKeys)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
    .returning();
  return row ? info(row) : getApiKey(store, id);
}

/**
 * Finds the live key matching a presented secret. The lookup is by hash (the
 * secret never reaches SQL); the final compare is constant-time.
 */
export async function authenticateApiKey(store: Store | StoreSession, presented: string): Promise<ApiKeyInfo | undefined> {
  if (!presented.startsWith(API_KEY_PREFIX) || presented.length > 200) return undefined;
  const hash = sha256Hex(presented);
  const [row] = await store.db.select().from(apiKeys).where(eq(apiKeys.hash, hash));
  if (!row || !timingSafeEqual(Buffer.from(row.hash), Buffer.from(hash))) return undefined;
  if (row.revokedAt) return { ...info(row) };
  // Last-use is informative only; don't write on every request.
  if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > 60_000) {
    await store.db.update(apiKeys).set({ lastUsedAt: new Date() }).where(eq(apiKeys.id, row.id));
  }
  return info(row);
}
