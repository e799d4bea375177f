import { createHash } from 'node:crypto';
import { PlumError } from '../errors.ts';
import { NMAP_SCRIPT_CATEGORIES, type ScriptDb } from './script-db.ts';

/**
 * Custom NSE scripts (`plum nse add`): validated at the edge (pure), stored
 * with the SHA-256 of their content, and judged by the scan policy through the
 * categories their Lua declares, exactly as stock scripts are judged through
 * nmap's script.db. A custom name never shadows a script of the installed
 * nmap or a project script, so a profile's script list means one thing.
 */

/** Largest script accepted: the biggest stock scripts are under 100 KiB. */
export const MAX_CUSTOM_SCRIPT_BYTES = 256 * 1024;

/** A custom script's name: what nmap reports as the script id (its file name without `.nse`). */
export const CUSTOM_SCRIPT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** What a job carries for each custom script it runs: the content is fetched by hash. */
export interface CustomScriptRef {
  name: string;
  sha256: string;
  categories: string[];
}

export interface ValidCustomScript extends CustomScriptRef {
  content: string;
  size: number;
}

export const sha256Hex = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

/** The name a file gives (`/x/my-check.nse` → `my-check`), or undefined when it is not a `.nse` file. */
export function scriptNameOfFile(file: string): string | undefined {
  const base = file.split(/[\\/]/).pop() ?? '';
  return base.endsWith('.nse') ? base.slice(0, -'.nse'.length).toLowerCase() : undefined;
}

const CATEGORIES_DECL = /^[ \t]*categories[ \t]*=[ \t]*\{([^}]*)\}/m;
const ACTION_DECL = /^[ \t]*action[ \t]*=/m;

/** The categories a script's Lua declares (`categories = {"safe", "discovery"}`), or undefined without a declaration. */
export function declaredCategories(lua: string): string[] | undefined {
  const m = CATEGORIES_DECL.exec(lua);
  if (!m) return undefined;
  const body = m[1]!.replace(/--[^\n]*/g, '');
  const items = body
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return items.map((item) => {
    const q = /^(["'])([^"'\\]*)\1$/.exec(item);
    if (!q) {
      throw new PlumError('invalid_input', `the script's categories must be quoted names, found ${item.slice(0, 40)}`, {
        hint: 'declare them literally, e.g. categories = {"safe", "discovery"}',
      });
    }
    return q[2]!;
  });
}

/**
 * Validates a script to store (pure): its name, its content (UTF-8 Lua of
 * bounded size with an action and declared categories) and the name's
 * collision with the installed nmap's scripts or the project's.
 */
export function validateCustomScript(
  input: { name: string; content: Uint8Array | string },
  db: ScriptDb,
  projectScripts: readonly string[] = [],
): ValidCustomScript {
  const name = input.name
    .trim()
    .replace(/\.nse$/, '')
    .toLowerCase();
  if (!CUSTOM_SCRIPT_NAME.test(name)) {
    throw new PlumError('invalid_input', `invalid NSE script name "${input.name.slice(0, 80)}"`, {
      hint: 'use 1-63 lowercase letters, digits, "-" or "_", starting with a letter or digit (pass --name)',
    });
  }
  if (name.startsWith('plum-') || projectScripts.includes(name)) {
    throw new PlumError('conflict', `"${name}" is reserved for Plum's own scripts: rename your script (e.g. --name site-${name.replace(/^plum-/, '')})`, {
      hint: 'names starting with plum- belong to the scripts Plum ships',
    });
  }
  if (db.has(name) || NMAP_SCRIPT_CATEGORIES.includes(name) || name === 'all') {
    throw new PlumError('conflict', `"${name}" is already a script (or category) of the installed nmap: rename your script, e.g. --name site-${name}`, {
      hint: 'a custom script may not shadow one nmap ships',
    });
  }
  const bytes = typeof input.content === 'string' ? Buffer.from(input.content, 'utf8') : Buffer.from(input.content);
  if (bytes.length === 0) throw new PlumError('invalid_input', `NSE script ${name} is empty`, { hint: 'give the .nse file with its Lua code' });
  if (bytes.length > MAX_CUSTOM_SCRIPT_BYTES) {
    throw new PlumError('payload_too_large', `NSE script ${name} is ${bytes.length} bytes, more than ${MAX_CUSTOM_SCRIPT_BYTES}`, {
      hint: 'keep custom scripts under 256 KiB; move data to nselib data files read by a stock library',
    });
  }
  let content: string;
  try {
    content = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new PlumError('invalid_input', `NSE script ${name} is not UTF-8 text`, { hint: 'give the Lua source file, not a compiled or binary file' });
  }
  if (content.includes('\0')) throw new PlumError('invalid_input', `NSE script ${name} contains NUL bytes`, { hint: 'give the Lua source file' });
  if (!ACTION_DECL.test(content)) {
    throw new PlumError('invalid_input', `NSE script ${name} defines no action`, {
      hint: 'an NSE script needs `action = function(host, port) ... end` and a rule',
    });
  }
  const categories = declaredCategories(content);
  if (!categories || categories.length === 0) {
    throw new PlumError('invalid_input', `NSE script ${name} declares no categories`, {
      hint: 'add e.g. categories = {"safe", "discovery"}: the scan policy judges scripts by their categories',
    });
  }
  const unknown = categories.find((c) => !NMAP_SCRIPT_CATEGORIES.includes(c));
  if (unknown !== undefined) {
    throw new PlumError('invalid_input', `NSE script ${name} declares the unknown category "${unknown}"`, {
      hint: `use nmap's categories: ${NMAP_SCRIPT_CATEGORIES.join(', ')}`,
    });
  }
  return { name, content, size: bytes.length, sha256: sha256Hex(bytes), categories: [...new Set(categories)] };
}

/** The installed catalogue plus custom scripts (names never collide: validateCustomScript refuses that). */
export function withCustomScripts(db: ScriptDb, custom: ReadonlyArray<Pick<CustomScriptRef, 'name' | 'categories'>> | undefined): ScriptDb {
  if (!custom || custom.length === 0) return db;
  const out = new Map(db);
  for (const c of custom) if (!out.has(c.name)) out.set(c.name, c.categories);
  return out;
}
