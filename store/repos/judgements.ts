import type { StoreSession } from '../index.ts';

/*
 * A stored document's judgement: its tags, the rules that gave them, its score and the score's features, as
 * `plum rules apply` and ingest's rescoring rewrite them. Tags and score have narrow copies (observation_tags,
 * observation_scores) that search reads; row triggers keep them in step for any writer (migrations 0031, 0032).
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
 * Rewrites the judgements of many documents and their narrow copies in one statement, with the row triggers
 * standing aside for the transaction's flag `plum.judgements_synced` (migration 0040): a trigger call, upsert
 * and index probe per row were most of a re-tag. The copies are written from the values written to the wide
 * rows, so they end equal whatever another writer did before.
 */
export async function writeJudgements(tx: StoreSession, updates: readonly JudgementUpdate[]): Promise<void> {
  if (updates.length === 0) return;
  await tx.query(`select set_config('plum.judgements_synced', 'on', true)`);
  // One statement (one parse of the input): each part writes a different table, disjoint rows of observation_tags.
  await tx.query(
    `with x as materialized (select * from jsonb_to_recordset($1::jsonb)
         as x(id text, tags text[], rules text[], score int, score_features jsonb, score_timed boolean)),
     wide as (update port_observations o set tags = x.tags, rules = x.rules, score = x.score,
         score_features = x.score_features, score_timed = x.score_timed
       from x where o.id = x.id),
     tagged as (insert into observation_tags (id, tags) select x.id, x.tags from x where cardinality(x.tags) > 0
       on conflict (id) do update set tags = excluded.tags where observation_tags.tags is distinct from excluded.tags),
     untagged as (delete from observation_tags t using x where t.id = x.id and cardinality(x.tags) = 0)
     update observation_scores s set score = x.score from x where s.id = x.id and s.score is distinct from x.score`,
    [JSON.stringify(updates)],
  );
  await tx.query(`select set_config('plum.judgements_synced', 'off', true)`);
}
