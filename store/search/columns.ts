import { SEARCH_FIELD_NAMES, type SearchFields } from '../../core/fields.ts';

/**
 * Separator of the search text. XML 1.0 cannot carry U+0001, so no value parsed
 * from nmap output contains it; stray ones are replaced by a space.
 */
export const SEP = '\u0001';

/**
 * The search columns of one port observation, computed in JavaScript (not in SQL)
 * so that lowercasing is the very same as the query language's, whatever the
 * database's locale:
 * - `searchText`: every SearchFields value as `␁field=value` (lowercased), then a
 *   final `␁`. A trigram GIN index serves exact, prefix and substring terms with
 *   regular expressions anchored on `␁field=`, so a term never matches across
 *   two values or two fields.
 *
 * Ingest stores it in port_observations.search_text; `plum search reindex`
 * recomputes it for stored rows. (`search_tsv` for token search is a generated
 * column over the whole document, and tags are searched from the tags column, so
 * re-tagging never has to touch these.)
 */
export function searchColumns(fields: SearchFields, _tags: string[] = [], _doc?: unknown): { searchText: string } {
  const parts: string[] = [];
  for (const name of SEARCH_FIELD_NAMES) {
    const values = fields[name];
    if (!values) continue;
    for (const v of values) {
      if (typeof v !== 'string') continue;
      parts.push(`${SEP}${name}=${v.toLowerCase().replaceAll(SEP, ' ')}`);
    }
  }
  return { searchText: `${parts.join('')}${SEP}` };
}
