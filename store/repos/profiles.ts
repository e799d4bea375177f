import { asc, eq } from 'drizzle-orm';
import { PlumError } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import { DEFAULT_PROFILES, enforceScriptPolicy, parseProfile, type ProfileInput, type ScanProfile } from '../../core/profiles.ts';
import type { StoreSession } from '../index.ts';
import { scriptDbFor } from './nse-scripts.ts';
import { scanProfiles, type ScanProfileRow } from '../schema/scan-profiles.ts';

/**
 * Scan profiles repository. Rows are re-validated through the profile schema
 * when read, so a hand-edited row can never smuggle an unsafe nmap option to
 * the runner. The built-in `banner` and `web` profiles are created on first use.
 */
export interface StoredProfile extends ScanProfile {
  id: string;
  enabled: boolean;
  builtin: boolean;
  createdAt: string;
  updatedAt: string;
}

const BUILTIN = new Set(DEFAULT_PROFILES.map((p) => p.name));

function fromRow(r: ScanProfileRow): StoredProfile {
  const p = parseProfile({
    name: r.name,
    ...(r.description ? { description: r.description } : {}),
    // A trigger profile's schedule, targets and ports columns keep their defaults and mean nothing.
    ...(r.trigger
      ? { trigger: r.trigger }
      : {
          tcpPorts: r.tcpPorts,
          udpPorts: r.udpPorts,
          every: r.cycle,
          targets: r.targetSelector,
        }),
    scripts: r.scripts,
    allowScripts: r.allowScripts,
    nmapArgs: r.nmapArgs,
    priority: r.priority,
    hostTimeout: r.hostTimeout,
    scanner: r.scanner as ScanProfile['scanner'],
    scouting: r.scouting ?? null,
  });
  return {
    ...p,
    id: r.id,
    enabled: r.enabled,
    builtin: BUILTIN.has(r.name),
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
  };
}

function toRow(p: ScanProfile) {
  return {
    name: p.name,
    description: p.description ?? null,
    tcpPorts: p.tcpPorts,
    udpPorts: p.udpPorts ?? null,
    scripts: p.scripts,
    allowScripts: p.allowScripts,
    nmapArgs: p.nmapArgs,
    cycle: p.every,
    priority: p.priority,
    targetSelector: p.targets,
    hostTimeout: p.hostTimeout,
    scanner: p.scanner,
    trigger: p.trigger ?? null,
    scouting: p.scouting,
  };
}

/** Creates the built-in profiles if they are missing (idempotent; never overwrites edits). */
export async function ensureDefaultProfiles(store: StoreSession): Promise<void> {
  await store.db
    .insert(scanProfiles)
    .values(DEFAULT_PROFILES.map((p) => ({ id: newId('prof'), ...toRow(p) })))
    .onConflictDoNothing({ target: scanProfiles.name });
}

/** Adds a profile; with `replace`, updates the existing one of that name instead of refusing. */
export async function saveProfile(store: StoreSession, input: ProfileInput | ScanProfile, opts: { replace?: boolean } = {}): Promise<StoredProfile> {
  const p = parseProfile(input as ProfileInput);
  enforceScriptPolicy(p.scripts, p.allowScripts, await scriptDbFor(store, p.scripts));
  await ensureDefaultProfiles(store);
  const [existing] = await store.db.select().from(scanProfiles).where(eq(scanProfiles.name, p.name));
  if (existing && !opts.replace) {
    throw new PlumError('conflict', `profile ${p.name} already exists`, { hint: 'use --replace to change it, or choose another name' });
  }
  if (existing) {
    const [row] = await store.db
      .update(scanProfiles)
      .set({ ...toRow(p), updatedAt: new Date() })
      .where(eq(scanProfiles.id, existing.id))
      .returning();
    return fromRow(row!);
  }
  const [row] = await store.db
    .insert(scanProfiles)
    .values({ id: newId('prof'), ...toRow(p) })
    .onConflictDoNothing({ target: scanProfiles.name })
    .returning();
  if (!row) throw new PlumError('conflict', `profile ${p.name} already exists`, { hint: 'use --replace to change it' });
  return fromRow(row);
}

export async function listProfiles(store: StoreSession): Promise<StoredProfile[]> {
  await ensureDefaultProfiles(store);
  const rows = await store.db.select().from(scanProfiles).orderBy(asc(scanProfiles.name));
  return rows.map(fromRow);
}

/** A profile by name or id; PlumError('not_found') naming the known profiles otherwise. */
export async function getProfile(store: StoreSession, nameOrId: string): Promise<StoredProfile> {
  await ensureDefaultProfiles(store);
  const key = nameOrId.trim().toLowerCase();
  const col = key.startsWith('prof_') ? scanProfiles.id : scanProfiles.name;
  const [row] = await store.db
    .select()
    .from(scanProfiles)
    .where(eq(col, key.startsWith('prof_') ? nameOrId.trim() : key));
  if (!row) {
    const names = (await store.db.select({ name: scanProfiles.name }).from(scanProfiles).orderBy(asc(scanProfiles.name))).map((r) => r.name);
    throw new PlumError('not_found', `no profile named ${nameOrId}`, { hint: `known profiles: ${names.join(', ')}; add one with \`plum profile add\`` });
  }
  return fromRow(row);
}

/**
 * Deletes a profile. A built-in profile is disabled instead (it would
 * otherwise come back on next use); `removed` says which happened.
 */
export async function removeProfile(store: StoreSession, nameOrId: string): Promise<StoredProfile & { removed: boolean }> {
  const p = await getProfile(store, nameOrId);
  if (p.builtin) return { ...(await setProfileEnabled(store, p.id, false)), removed: false };
  // Runs keep the profile name (profile_id is set null), so history stays readable.
  await store.db.delete(scanProfiles).where(eq(scanProfiles.id, p.id));
  return { ...p, removed: true };
}

export async function setProfileEnabled(store: StoreSession, nameOrId: string, enabled: boolean): Promise<StoredProfile> {
  const p = await getProfile(store, nameOrId);
  const [row] = await store.db.update(scanProfiles).set({ enabled, updatedAt: new Date() }).where(eq(scanProfiles.id, p.id)).returning();
  return fromRow(row!);
}

/** The id of the profile with exactly this name; undefined when there is none. */
export async function profileIdByName(store: StoreSession, name: string): Promise<string | undefined> {
  const [p] = await store.query<{ id: string }>('select id from scan_profiles where name = $1', [name]);
  return p?.id;
}
