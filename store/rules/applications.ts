import { createHash } from 'node:crypto';
import { canonicalJson } from '../../core/nmap/fingerprint.ts';
import type { FaviconDb } from '../../core/rules/favicon-db.ts';
import type { ScoreConfig } from '../../core/score.ts';

/*
 * What `rule_applications` records besides each rule's hash: the fact tags' and the score weights' identity,
 * so an apply (store/rules/apply.ts) and an ingest (store/rules/rescore.ts) know what the stored tags and
 * scores follow.
 */

export const FACTS_KEY = '@facts';
export const SCORE_KEY = '@score';
/** Bumped when the fact tags (core/rules/facts.ts) change meaning. */
export const FACTS_VERSION = 1;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export function factsHash(favicons?: FaviconDb): string {
  const entries = favicons ? [...favicons.entries.values()].map((e) => `${e.md5}=${e.tags.join(',')}`).sort() : [];
  return sha256(`${FACTS_VERSION}\n${entries.join('\n')}`);
}

export const scoreHash = (cfg: ScoreConfig) => sha256(canonicalJson(cfg));
