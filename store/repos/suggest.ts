import type { StoreSession } from '../index.ts';
import { SEARCH_FIELD_NAMES, type SearchFieldName } from '../../core/fields.ts';

/**
 * Completion for the search box: tags and field values of current ports that
 * start with what was typed. Bounded (a sample of recent ports, a few answers)
 * so typing never costs a scan of the whole table.
 */
const SAMPLE = 20_000;

export async function suggestTags(store: StoreSession, prefix: string, limit = 10): Promise<string[]> {
  const rows = await store.query<{ tag: string }>(
    `select distinct t as tag from (select tags from port_observations where current order by id desc limit ${SAMPLE}) p, unnest(p.tags) t
      where t like $1 escape '\\' order by t limit ${limit}`,
    [`${likeEscape(prefix.toLowerCase())}%`],
  );
  return rows.map((r) => r.tag);
}

export async function suggestValues(store: StoreSession, field: string, prefix: string, limit = 10): Promise<string[]> {
  if (!(SEARCH_FIELD_NAMES as readonly string[]).includes(field)) return [];
  const rows = await store.query<{ v: string }>(
    `select v, count(*) from (select fields from port_observations where current order by id desc limit ${SAMPLE}) p,
       jsonb_array_elements_text(p.fields->$1) v
      where lower(v) like $2 escape '\\' group by v order by count(*) desc, v limit ${limit}`,
    [field as SearchFieldName, `${likeEscape(prefix.toLowerCase())}%`],
  );
  return rows.map((r) => r.v);
}

function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}
