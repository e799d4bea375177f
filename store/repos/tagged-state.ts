import { createHash } from 'node:crypto';
import type { RuleSet } from '../../core/rules/engine.ts';
import type { StoreSession } from '../index.ts';

/*
 * Whether every stored document's tags are those the current rules give its stored fields (issue 26, ingest
 * with rules). When they are, a stable sighting (the fingerprint stored as current at its slot) keeps its
 * stored tags: ingest evaluates the rules only on the ports that leave its stable fast path (store/ingest-read.ts).
 * Tags that move with time (certificate dates) are re-judged after commit by rescoreIps, as before.
 *
 * Recorded in rule_applications under TAGGED_KEY: the hash of the rule set (rules and fact tags) every stored
 * document follows. `plum rules apply` writes it (every document then follows the applied set); an ingest
 * into an empty store writes it (nothing is tagged otherwise); an ingest with other rules removes it (its new
 * documents follow other rules than the stored ones), and stable sightings are then tagged again one by one,
 * as they always were, until the next apply.
 */

export const TAGGED_KEY = '@tagged';

/** The identity of a rule set's tagging: each rule's content hash and the fact tags' hash (`factsHash`). */
export function taggedSetHash(set: RuleSet, facts: string): string {
  const lines = set.rules.map((r) => `${r.name}=${r.hash}`).sort();
  return createHash('sha256')
    .update(`${facts}\n${lines.join('\n')}`)
    .digest('hex');
}

/**
 * True when the stored tags follow the rule set of hash `hash` (see above); records it for an empty store and
 * forgets a different one. Runs in the caller's transaction (an ingest batch). `alsoEmpty`: other applications
 * an empty store follows by definition (the score weights: every score it will hold is computed by this ingest),
 * recorded with it.
 */
export async function storedTagsFollow(tx: StoreSession, hash: string, alsoEmpty: { name: string; hash: string }[] = []): Promise<boolean> {
  const [row] = await tx.query<{ hash: string | null; empty: boolean }>(
    `select (select hash from rule_applications where name = $1) as hash,
       not exists (select 1 from port_observations) as empty`,
    [TAGGED_KEY],
  );
  if (row?.hash === hash) return true;
  if (row?.empty) {
    const entries = [{ name: TAGGED_KEY, hash }, ...alsoEmpty];
    await tx.query(
      `insert into rule_applications (name, hash, applied_at) select name, hash, now() from unnest($1::text[], $2::text[]) as x(name, hash)
       on conflict (name) do update set hash = excluded.hash, applied_at = excluded.applied_at`,
      [entries.map((e) => e.name), entries.map((e) => e.hash)],
    );
    return true;
  }
  if (row?.hash != null) await tx.query('delete from rule_applications where name = $1', [TAGGED_KEY]);
  return false;
}

/** The hash recorded under `name` in rule_applications (the rule set, the facts, the score weights), if any. */
export async function applicationHash(store: StoreSession, name: string): Promise<string | undefined> {
  const [row] = await store.query<{ hash: string }>('select hash from rule_applications where name = $1', [name]);
  return row?.hash;
}
