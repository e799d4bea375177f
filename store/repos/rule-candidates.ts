import { sql, type SQL } from 'drizzle-orm';
import { collectTerms } from '../../core/query/ast.ts';
import type { RuleSet } from '../../core/rules/engine.ts';
import { getField } from '../../core/query/registry.ts';
import { compileWhere, hasNegation } from '../search/compile.ts';
import type { StoreSession } from '../index.ts';

/*
 * Which stored documents an incremental `plum rules apply` must look at again.
 * When a few rules changed, a document's tags can change only if one of those
 * rules matched it before (its name is in `rules`) or matches it now; every
 * other document would come out of the evaluation exactly as stored. Narrowing
 * to these in SQL (the search compiler, the SQL twin of the rule matcher, with
 * its indexes) spares reading and evaluating the wide rows of the rest.
 */

/** Past this many rules to re-run, a condition per rule costs more than reading everything. */
const MAX_NARROWED_RULES = 16;

const textArray = (values: readonly string[]) =>
  sql`array[${sql.join(
    values.map((v) => sql`${v}`),
    sql`, `,
  )}]::text[]`;

/**
 * A condition on `port_observations` (alias `alias`) true for every document
 * whose tags can change when `affected` rules run again and `removed` rules go,
 * or undefined when no narrowing is safe (then every document is read). Rules
 * reading tags (`tag:`) or negating terms are approximated by their guard (one
 * of some fields is non-empty): stored tags may be about to change, and NULL
 * columns under a NOT would drop documents the matcher keeps.
 */
export function candidateCondition(set: RuleSet, affected: readonly string[], removed: readonly string[], alias = 'po'): SQL | undefined {
  if (affected.length > MAX_NARROWED_RULES) return undefined;
  const col = (name: string) => sql.raw(`${alias}.${name}`);
  const names = [...affected, ...removed];
  const parts: SQL[] = names.length > 0 ? [sql`${col('rules')} && ${textArray(names)}`] : [];
  for (const name of affected) {
    const rule = set.byName.get(name);
    if (!rule) continue;
    const exact = !hasNegation(rule.node) && collectTerms(rule.node).every((t) => getField(t.field)?.source.kind === 'fields');
    if (exact) {
      parts.push(compileWhere(rule.node, { now: new Date(0), alias }));
    } else if (rule.guard) {
      parts.push(
        sql`(${sql.join(
          rule.guard.map((f) => sql`coalesce(${col('fields')} -> ${f}, '[]'::jsonb) <> '[]'::jsonb`),
          sql` or `,
        )})`,
      );
    } else {
      return undefined;
    }
  }
  return parts.length > 0 ? sql`(${sql.join(parts, sql` or `)})` : sql`false`;
}

/** The candidate documents' ids, grouped by host (canonical text), hosts in address order. */
export async function candidatesByIp(store: StoreSession, cond: SQL): Promise<Map<string, string[]>> {
  const rows = await store.query<{ id: string; ip: string }>(
    sql`select po.id, host(po.ip) as ip from port_observations po where ${cond} order by po.ip, po.id`,
  );
  const out = new Map<string, string[]>();
  for (const r of rows) {
    let ids = out.get(r.ip);
    if (!ids) out.set(r.ip, (ids = []));
    ids.push(r.id);
  }
  return out;
}
