import { existsSync, readFileSync } from 'node:fs';
import { PlumError } from '../errors.ts';

/**
 * The installed nmap's script catalogue (scripts/script.db), parsed at the
 * edge into a map of script name → categories, and the pure policy deciding
 * which scripts a scan may run. Scripts that contact third parties
 * (`external`), broadcast on the local network (`broadcast`), or attack the
 * target (`dos`, `exploit`, `brute`, `intrusive`) are refused unless an admin
 * allowed the script by name on the profile. Names nmap does not know are
 * refused: nmap would otherwise treat them as file names or expressions.
 */

export type ScriptDb = ReadonlyMap<string, readonly string[]>;

/** nmap's script categories (a custom script declares some of them; a profile may not name one). */
export const NMAP_SCRIPT_CATEGORIES: readonly string[] = [
  'auth',
  'broadcast',
  'brute',
  'default',
  'discovery',
  'dos',
  'exploit',
  'external',
  'fuzzer',
  'intrusive',
  'malware',
  'safe',
  'version',
  'vuln',
];

/** Categories a scan may not run without an admin's explicit allowance. */
export const REFUSED_CATEGORIES: readonly string[] = ['broadcast', 'external', 'dos', 'exploit', 'brute', 'intrusive'];

const ENTRY = /^Entry \{ filename = "([^"]+)\.nse", categories = \{((?: "[a-z_-]+",)*) \} \}$/;

/** Parses script.db's text (pure). Lines that are not entries are ignored; an empty result is an error. */
export function parseScriptDb(text: string): ScriptDb {
  const db = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = ENTRY.exec(line.trim());
    if (!m) continue;
    db.set(
      m[1]!,
      [...m[2]!.matchAll(/"([a-z_-]+)"/g)].map((c) => c[1]!),
    );
  }
  if (db.size === 0) throw new Error('no script entries found');
  return db;
}

/** Where nmap packages put script.db. */
export const SCRIPT_DB_CANDIDATES = [
  '/usr/share/nmap/scripts/script.db',
  '/usr/local/share/nmap/scripts/script.db',
  '/opt/homebrew/share/nmap/scripts/script.db',
];

const cache = new Map<string, ScriptDb>();

/** The installed nmap's script.db (read once per path). */
export function installedScriptDb(candidates: readonly string[] = SCRIPT_DB_CANDIDATES): ScriptDb {
  const file = candidates.find((f) => existsSync(f));
  if (!file) {
    throw new PlumError('unavailable', "nmap's script.db was not found, so NSE scripts cannot be checked", {
      hint: `install nmap on this machine (looked in ${candidates.join(', ')})`,
    });
  }
  let db = cache.get(file);
  if (!db) {
    try {
      db = parseScriptDb(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new PlumError('unavailable', `cannot read nmap's script catalogue ${file}: ${(e as Error).message}`, {
        hint: 'reinstall nmap, or run `nmap --script-updatedb` as root',
      });
    }
    cache.set(file, db);
  }
  return db;
}

export type ScriptVerdict = { ok: true } | { ok: false; script: string; reason: string; unknown: boolean };

/**
 * Judges stock script names (project scripts are judged by the caller): known
 * to nmap, and in no refused category unless allowed by name.
 */
export function judgeScripts(names: readonly string[], db: ScriptDb, allowed: readonly string[] = []): ScriptVerdict {
  for (const name of names) {
    const categories = db.get(name);
    if (!categories) return { ok: false, script: name, reason: 'is not a script of the installed nmap', unknown: true };
    if (allowed.includes(name)) continue;
    // The targets-* scripts exist to discover targets (and targets-xml reads a file); nothing else in nmap's
    // catalogue adds targets without the `newtargets` argument, which is refused (core/nmap/script-args.ts).
    if (name.startsWith('targets-')) return { ok: false, script: name, reason: 'discovers targets outside the perimeter', unknown: false };
    const bad = categories.filter((c) => REFUSED_CATEGORIES.includes(c));
    if (bad.length) {
      return { ok: false, script: name, reason: `is in the ${bad.join(', ')} categor${bad.length > 1 ? 'ies' : 'y'}`, unknown: false };
    }
  }
  return { ok: true };
}
