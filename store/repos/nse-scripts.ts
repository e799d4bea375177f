import { asc, eq, inArray } from 'drizzle-orm';
import { PlumError } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import { PROJECT_SCRIPTS } from '../../core/profiles.ts';
import { sha256Hex, validateCustomScript, withCustomScripts, type CustomScriptRef } from '../../core/nmap/custom-scripts.ts';
import { installedScriptDb, type ScriptDb } from '../../core/nmap/script-db.ts';
import type { StoreSession } from '../index.ts';
import { nseScripts, type NseScriptRow } from '../schema/nse-scripts.ts';

/**
 * Custom NSE scripts repository. Content is validated (core/nmap/custom-scripts.ts)
 * before it is stored; jobs carry each script's SHA-256 and runners fetch the
 * content by that hash (nseScriptByHash, or GET /v1/agent/nse-scripts/{sha256}).
 */
export interface NseScriptInfo extends CustomScriptRef {
  id: string;
  size: number;
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
}

const info = (r: NseScriptRow): NseScriptInfo => ({
  id: r.id,
  name: r.name,
  sha256: r.sha256,
  categories: r.categories,
  size: r.size,
  createdBy: r.createdBy,
  createdAt: r.createdAt.toISOString(),
  updatedAt: r.updatedAt.toISOString(),
});

/** Adds a script; with `replace`, a script of that name gets the new content (and so a new hash). */
export async function addNseScript(
  store: StoreSession,
  input: { name: string; content: Uint8Array | string; by?: string },
  opts: { replace?: boolean; db?: ScriptDb } = {},
): Promise<NseScriptInfo & { replaced: boolean }> {
  const s = validateCustomScript(input, opts.db ?? installedScriptDb(), PROJECT_SCRIPTS);
  const [existing] = await store.db.select().from(nseScripts).where(eq(nseScripts.name, s.name));
  if (existing && !opts.replace) {
    throw new PlumError('conflict', `NSE script ${s.name} already exists`, { hint: 'use --replace (API: "replace": true) to change its content' });
  }
  const values = { sha256: s.sha256, content: s.content, size: s.size, categories: s.categories, createdBy: input.by ?? null };
  if (existing) {
    const [row] = await store.db
      .update(nseScripts)
      .set({ ...values, updatedAt: new Date() })
      .where(eq(nseScripts.id, existing.id))
      .returning();
    return { ...info(row!), replaced: true };
  }
  const [row] = await store.db
    .insert(nseScripts)
    .values({ id: newId('nse'), name: s.name, ...values })
    .onConflictDoNothing({ target: nseScripts.name })
    .returning();
  if (!row) throw new PlumError('conflict', `NSE script ${s.name} already exists`, { hint: 'use --replace to change its content' });
  return { ...info(row), replaced: false };
}

export async function listNseScripts(store: StoreSession): Promise<NseScriptInfo[]> {
  return (await store.db.select().from(nseScripts).orderBy(asc(nseScripts.name))).map(info);
}

/** Deletes a script no profile names; PlumError('conflict') naming the profiles otherwise. */
export async function removeNseScript(store: StoreSession, name: string): Promise<NseScriptInfo> {
  const key = name
    .trim()
    .replace(/\.nse$/, '')
    .toLowerCase();
  const [row] = await store.db.select().from(nseScripts).where(eq(nseScripts.name, key));
  if (!row) throw new PlumError('not_found', `no custom NSE script named ${name}`, { hint: 'list them with `plum nse list`' });
  const users = await store.query<{ name: string }>('select name from scan_profiles where $1 = any(scripts) order by name', [key]);
  if (users.length > 0) {
    throw new PlumError('conflict', `NSE script ${key} is used by profile${users.length > 1 ? 's' : ''} ${users.map((u) => u.name).join(', ')}`, {
      hint: 'remove it from their --scripts first (plum profile add NAME --replace ...)',
    });
  }
  await store.db.delete(nseScripts).where(eq(nseScripts.id, row.id));
  return info(row);
}

/** The custom scripts among these names, with their current hash and categories (stock and project names are skipped). */
export async function customScriptRefs(store: StoreSession, names: readonly string[]): Promise<CustomScriptRef[]> {
  if (names.length === 0) return [];
  const rows = await store.db
    .select({ name: nseScripts.name, sha256: nseScripts.sha256, categories: nseScripts.categories })
    .from(nseScripts)
    .where(inArray(nseScripts.name, [...names]));
  return rows.sort((a, b) => names.indexOf(a.name) - names.indexOf(b.name));
}

/** The installed nmap's catalogue with the custom scripts among these names: what enforceScriptPolicy judges by. */
export async function scriptDbFor(store: StoreSession, names: readonly string[]): Promise<ScriptDb> {
  return withCustomScripts(installedScriptDb(), await customScriptRefs(store, names));
}

/** A script's content by its SHA-256 (checked again here: a hand-edited row is never served). */
export async function nseScriptByHash(store: StoreSession, sha256: string): Promise<{ name: string; content: Buffer } | undefined> {
  const rows = await store.db.select({ name: nseScripts.name, content: nseScripts.content }).from(nseScripts).where(eq(nseScripts.sha256, sha256));
  for (const r of rows) {
    const content = Buffer.from(r.content, 'utf8');
    if (sha256Hex(content) === sha256) return { name: r.name, content };
  }
  return undefined;
}

/** The runner's script source for in-process runs (embedded, server-side worker): the database. */
export function storeScriptSource(store: StoreSession): (ref: CustomScriptRef) => Promise<Buffer> {
  return async (ref) => {
    const found = await nseScriptByHash(store, ref.sha256);
    if (!found) {
      throw new PlumError('not_found', `custom NSE script ${ref.name} (sha256 ${ref.sha256.slice(0, 12)}…) is no longer stored`, {
        hint: 'it was replaced or removed after the run was planned; start a new run',
      });
    }
    return found.content;
  };
}
