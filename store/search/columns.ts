import { SEARCH_FIELD_NAMES, type SearchFields } from '../../core/fields.ts';
import { foldCase } from '../../core/query/fold.ts';

/**
 * Separator of the search text. XML 1.0 cannot carry U+0001, so no value parsed
 * from nmap output contains it; stray ones are replaced by a space.
 */
export const SEP = '\u0001';

/**
 * Fields with their own folded text column `s_<field>` (plum_field_text, trigram
 * index): searched by LIKE, cheaper than the regular expression over search_text
 * that serves the other fields. Kept in step with store/schema/port-observations.ts.
 */
export const HOT_FIELDS: ReadonlySet<string> = new Set([
  'http_title',
  'http_server',
  'http_headval',
  'banner',
  'x509_san',
  'x509_subject',
  'x509_issuer',
  'fqdn',
  'domain',
  'service_product',
  'http_favicon_mmhash',
]);

/** The `s_<field>` column text for one field, as plum_field_text computes it. */
export function fieldText(values: string[]): string {
  return `${SEP}${values.map((v) => foldCase(v.replaceAll(SEP, ' '))).join(SEP)}${SEP}`;
}

/**
 * The search columns of one port observation, as the database computes them
 * (generated column `search_text = plum_search_text(fields)`, migration 0006,
 * using the frozen case folding of core/query/fold.ts). Ingest does not need to
 * call this: it is the JavaScript reference a test compares with the database.
 * - `searchText`: every SearchFields value as `␁field=value` (lowercased), then a
 *   final `␁`. A trigram GIN index serves exact, prefix and substring terms with
 *   regular expressions anchored on `␁field=`, so a term never matches across
 *   two values or two fields.
 *
 * `search_tsv` (token search) is also generated, over the whole document, and
 * tags are searched from the tags column, so no writer has to fill anything.
 */
export function searchColumns(fields: SearchFields, _tags: string[] = [], _doc?: unknown): { searchText: string } {
  const parts: string[] = [];
  for (const name of SEARCH_FIELD_NAMES) {
    const values = fields[name];
    if (!values) continue;
    for (const v of values) {
      if (typeof v !== 'string') continue;
      parts.push(`${SEP}${name}=${foldCase(v.replaceAll(SEP, ' '))}`);
    }
  }
  return { searchText: `${parts.join('')}${SEP}` };
}
