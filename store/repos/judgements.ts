import type { StoreSession } from '../index.ts';

/*
 * A stored document's judgement: its tags, the rules that gave them, its score and the score's features, as
 * `plum rules apply` and ingest's rescoring rewrite them. Tags and score have narrow copies (observation_tags,
 * observation_scores) that search reads; row triggers keep them in step for any writer (migrations 0031, 0032)
 * that does not write them itself.
 */

export interface JudgementUpdate {
  id: string;
  tags: string[];
  rules: string[];
  score: number;
  score_features: unknown;
  score_timed: boolean;
}

/**
 * Runs `write` with the row triggers that copy tags and scores standing aside (the transaction's flag
 * `plum.judgements_synced`, migrations 0040 and 0042): the writer writes both copies itself, set-based. The
 * flag is cleared after, so the triggers serve any later writer of the transaction.
 */
export async function withJudgementsSynced<T>(tx: StoreSession, write: () => Promise<T>): Promise<T> {
  await tx.query(`select set_config('plum.judgements_synced', 'on', true)`);
  const result = await write();
  await tx.query(`select set_config('plum.judgements_synced', 'off', true)`);
  return result;
}

/**
 * The parts of a statement that bring the narrow copies of existing documents in step with `x` (columns id,
 * tags, score; a null tags or score leaves that copy as it is). Each part writes a different table, or disjoint
 * rows of observation_tags; the statement ends with the scores' update.
 */
export const SYNC_COPIES_FROM_X = `tagged as (insert into observation_tags (id, tags) select x.id, x.tags from x where cardinality(x.tags) > 0
       on conflict (id) do update set tags = excluded.tags where observation_tags.tags is distinct from excluded.tags),
     untagged as (delete from observation_tags t using x where t.id = x.id and cardinality(x.tags) = 0)
     update observation_scores s set score = x.score from x
       where s.id = x.id and x.score is not null and s.score is distinct from x.score`;

/**
 * Rewrites the judgements of many documents and their narrow copies in one statement (one parse of the input):
 * a trigger call, upsert and index probe per row were most of a re-tag. The copies are written from the values
 * written to the wide rows, so they end equal whatever another writer did before.
 */
export async function writeJudgements(tx: StoreSession, updates: readonly JudgementUpdate[]): Promise<void> {
  if (updates.length === 0) return;
  await withJudgementsSynced(tx, () =>
    tx.query(
      `with x as materialized (select * from jsonb_to_recordset($1::jsonb)
           as x(id text, tags text[], rules text[], score int, score_features jsonb, score_timed boolean)),
       wide as (update port_observations o set tags = x.tags, rules = x.rules, score = x.score,
           score_features = x.score_features, score_timed = x.score_timed
         from x where o.id = x.id),
       ${SYNC_COPIES_FROM_X}`,
      [JSON.stringify(updates)],
    ),
  );
}
