import { readFile } from 'node:fs/promises';
import { PlumError } from '../errors.ts';

/** Where Debian's nmap package installs its favicon MD5 database. */
export const DEFAULT_FAVICON_DB = '/usr/share/nmap/nselib/data/favicon-db';

export interface FaviconEntry {
  md5: string;
  name: string;
  tags: string[];
}

/** nmap's favicon database: favicon MD5 (lowercase hex) → what it identifies. */
export interface FaviconDb {
  path: string;
  entries: Map<string, FaviconEntry>;
}

const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');

/** What kind of thing a favicon-db name describes, from the words nmap uses ("Joomla! CMS", "BlueHost web hosting"). */
const KINDS: Array<[RegExp, string]> = [
  [/\bcms\b/i, 'cms'],
  [/\bweb hosting\b|\bblog hosting\b/i, 'hosting'],
  [/\bdomain (parking|forwarding)\b/i, 'parking'],
  [/\bforum\b/i, 'forum'],
  [/\b(panel|admin|control panel|disk ?station manager)\b/i, 'admin-panel'],
  [/\bweb server\b|\bserver \d\b/i, 'web-server'],
  [/\b(device|modem|airos)\b/i, 'device'],
  [/\bframework\b/i, 'framework'],
  [/\bweb store\b/i, 'shop'],
];

/**
 * Tags for one favicon-db name: always `favicon:<slug of the name>`, plus
 * `product:<name without the kind words>` and `type:<kind>` when the name says.
 */
export function faviconNameTags(name: string): string[] {
  const tags = [`favicon:${slug(name)}`];
  const kinds = KINDS.filter(([re]) => re.test(name)).map(([, k]) => k);
  for (const k of kinds) tags.push(`type:${k}`);
  const product = slug(name.replace(/\b(cms|web hosting|blog hosting|domain parking|domain forwarding|http admin|web store|forum)\b/gi, ''));
  if (product) tags.push(`product:${product}`);
  return [...new Set(tags)];
}

/** Parses the `MD5: Name` lines of nmap's favicon-db; `#` lines and blank lines are comments. */
export function parseFaviconDb(text: string, path = DEFAULT_FAVICON_DB): FaviconDb {
  const entries = new Map<string, FaviconEntry>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([0-9a-fA-F]{32})\s*:\s*(.+)$/.exec(line);
    if (!m) continue;
    const md5 = m[1]!.toLowerCase();
    const name = m[2]!.trim();
    entries.set(md5, { md5, name, tags: faviconNameTags(name) });
  }
  return { path, entries };
}

export async function loadFaviconDb(path = DEFAULT_FAVICON_DB): Promise<FaviconDb> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new PlumError('not_found', `cannot read nmap's favicon database ${path}: ${(e as Error).message}`, {
      hint: 'install nmap or set PLUM_FAVICON_DB to the path of nselib/data/favicon-db',
      cause: e,
    });
  }
  const db = parseFaviconDb(text, path);
  if (db.entries.size === 0) {
    throw new PlumError('invalid_input', `${path} holds no favicon entries`, {
      hint: "point PLUM_FAVICON_DB at nmap's nselib/data/favicon-db",
    });
  }
  return db;
}

/** Tags of the favicons (MD5 hex, any case) found in the database. */
export function faviconTags(db: FaviconDb | undefined, md5s: readonly string[]): string[] {
  if (!db || md5s.length === 0) return [];
  const out: string[] = [];
  for (const md5 of md5s) {
    const e = db.entries.get(md5.toLowerCase());
    if (e) out.push(...e.tags);
  }
  return out;
}
