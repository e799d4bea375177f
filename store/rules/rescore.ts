import { canonicalIp } from '../../core/coverage.ts';
import { jsonEqual } from '../../core/json-equal.ts';
import { createPortTagger, evaluateRules, timeDependentRules, type Evaluation, type RuleSet } from '../../core/rules/engine.ts';
import { timeFactsMove } from '../../core/rules/facts.ts';
import { scoreMovesWithTime, scorePort, type PortScoreInput, type ScoreConfig, type ScoreResult } from '../../core/score.ts';
import type { Store, StoreSession } from '../index.ts';
import { portInput, selectObsSql, writeHostScores, type ObsRow } from '../repos/host-score.ts';
import { writeJudgements, type JudgementUpdate } from '../repos/judgements.ts';
import { clearRescores, queueRescores } from '../repos/pending-rescores.ts';
import { applicationHash, storedTagsFollow, taggedSetHash } from '../repos/tagged-state.ts';
import type { StoredObservation } from '../ingest-types.ts';
import { factsHash, SCORE_KEY, scoreHash } from './applications.ts';

/*
 * Scores and time-dependent tags, recomputed from what is stored: after an ingest's batches (the hosts they may
 * have moved) and by `plum rules apply` (store/rules/apply.ts), one transaction per batch of hosts.
 */

/** What is stored in port_observations.score_features. */
export const storedFeatures = (s: ScoreResult) => ({ band: s.band, features: s.features });

export interface BatchContext {
  set: RuleSet;
  score: ScoreConfig;
  /** Rules to run again; undefined: tags stay as stored (only scores are recomputed). */
  affected?: ReadonlySet<string>;
  /** When scores are judged (host-score.ts portInput). */
  now?: () => Date;
  /** Re-tag only these documents (rule-candidates.ts), or only those with certificate dates; undefined: all. */
  candidates?: readonly string[] | 'dated';
}

export interface BatchOutcome {
  documents: number;
  retagged: number;
  rescored: number;
  hosts: number;
}

/**
 * Re-tags (affected rules only) and re-scores every observation of `ips`, then
 * the host scores of those ips. One transaction; only rows that change are written.
 */
export async function processIps(tx: StoreSession, ips: string[], ctx: BatchContext): Promise<BatchOutcome> {
  const out: BatchOutcome = { documents: 0, retagged: 0, rescored: 0, hosts: 0 };
  if (ips.length === 0) return out;
  const retag = ctx.affected !== undefined;
  const rows =
    ctx.candidates === undefined || !retag
      ? await tx.query<ObsRow>(selectObsSql(retag), [ips])
      : ctx.candidates === 'dated'
        ? await tx.query<ObsRow>(selectObsSql('dated'), [ips])
        : await tx.query<ObsRow>(selectObsSql('listed'), [ips, ctx.candidates]);
  const updates: JudgementUpdate[] = [];
  const openByIp = new Map<string, PortScoreInput[]>(ips.map((ip) => [ip, []]));
  const at = ctx.now?.() ?? new Date();
  for (const r of rows) {
    out.documents++;
    let ev: Evaluation = { tags: r.tags, rules: r.rules };
    if (retag && r.fields) {
      ev = evaluateRules(ctx.set, r.fields, {
        at: r.last_seen,
        only: ctx.affected,
        keepRules: r.rules.filter((n) => !ctx.affected!.has(n)),
      });
    }
    const tagsChanged =
      ev.tags.length !== r.tags.length ||
      ev.tags.some((t, i) => t !== r.tags[i]) ||
      ev.rules.length !== r.rules.length ||
      ev.rules.some((t, i) => t !== r.rules[i]);
    const s = scorePort(portInput(r, at, ev.tags), ctx.score);
    const sf = storedFeatures(s);
    const timed = scoreMovesWithTime(s);
    const scoreChanged = s.score !== r.score || timed !== r.score_timed || !jsonEqual(sf, r.score_features);
    if (tagsChanged || scoreChanged) {
      updates.push({ id: r.id, tags: ev.tags, rules: ev.rules, score: s.score, score_features: sf, score_timed: timed });
      if (tagsChanged) out.retagged++;
      if (scoreChanged) out.rescored++;
    }
    if (r.current && r.state === 'open') openByIp.get(r.ip)?.push(portInput(r, at, ev.tags));
  }
  await writeJudgements(tx, updates);
  out.hosts = await writeHostScores(tx, openByIp, ctx.score);
  return out;
}

/**
 * After an ingest: recomputes port and host scores of these ips from stored
 * tags and history, and re-judges certificate dates at each document's scan
 * time (ingest tags at the wall clock, which is wrong for an old scan).
 */
export async function rescoreIps(store: Store, ips: string[], ctx: { set: RuleSet; score: ScoreConfig; now?: () => Date }): Promise<BatchOutcome> {
  const unique = [...new Set(ips.map(canonicalIp))].sort();
  const total: BatchOutcome = { documents: 0, retagged: 0, rescored: 0, hosts: 0 };
  const affected = timeDependentRules(ctx.set);
  for (let i = 0; i < unique.length; i += 500) {
    // Only certificate dates make a document's tags depend on time: the other documents' fields stay unread.
    const part = await store.transaction((tx) =>
      processIps(tx, unique.slice(i, i + 500), { set: ctx.set, score: ctx.score, affected, now: ctx.now, candidates: 'dated' }),
    );
    addOutcome(total, part);
  }
  return total;
}

export function addOutcome(a: BatchOutcome, b: BatchOutcome): void {
  a.documents += b.documents;
  a.retagged += b.retagged;
  a.rescored += b.rescored;
  a.hosts += b.hosts;
}

/**
 * What ingest needs from the rules (IngestDeps): tags at ingest, then the scores of the hosts the batch may have
 * moved, once it is committed (a score needs the slot's history: when it first appeared, when it last changed).
 */
export function createRuleIngestDeps(store: Store, ctx: { set: RuleSet; score: ScoreConfig; now?: () => Date; onRescore?: (ips: readonly string[]) => void }) {
  const tagPort = createPortTagger(ctx.set, { now: ctx.now });
  type Committed = { observations: Pick<StoredObservation, 'ip' | 'settled' | 'fields' | 'lastSeen'>[]; events: { ip: string }[] };
  // Batches commit one after the other: the hosts the last one owes, and when it queued them, are what its
  // rescoring does and clears.
  let owed: string[] = [];
  let queuedAt = new Date(0);
  const tagging = taggedSetHash(ctx.set, factsHash(ctx.set.favicons));
  const weights = scoreHash(ctx.score);
  /**
   * The hosts whose scores this batch may have moved: those with an event or a port off the stable fast path,
   * and, of the hosts whose every port was only sighted again, those with a port whose judgement moves with
   * time: its certificate facts flip between its previous sighting and this one, or its score is inside a
   * decaying window (or was never scored); all of them while the stored scores follow other weights. Rescoring
   * every host of a stable pass read and recomputed all their documents to write nothing. Decided before commit,
   * from what the fast path returned and the parsed fields (no query per host), so only those hosts are queued.
   */
  const toRescore = async (tx: StoreSession, c: Committed): Promise<string[]> => {
    const moved = new Set([...c.events.map((e) => e.ip), ...c.observations.filter((o) => !o.settled).map((o) => o.ip)]);
    const settled = c.observations.filter((o) => o.settled && !moved.has(o.ip));
    if (settled.length === 0) return [...moved];
    const sameWeights = (await applicationHash(tx, SCORE_KEY)) === weights;
    for (const o of settled) {
      if (moved.has(o.ip)) continue;
      const { previousSeen, scoreTimed } = o.settled!;
      if (!sameWeights || scoreTimed !== false || timeFactsMove(o.fields, previousSeen, o.lastSeen)) moved.add(o.ip);
    }
    return [...moved];
  };
  return {
    tagPort,
    storedTagsFollow: (tx: StoreSession) => storedTagsFollow(tx, tagging, [{ name: SCORE_KEY, hash: weights }]),
    // Owed scores are recorded with the batch, so a process killed before rescoring leaves them to the next ingest.
    beforeCommit: async (tx: StoreSession, c: Committed) => {
      owed = await toRescore(tx, c);
      queuedAt = new Date();
      if (owed.length > 0) await queueRescores(tx, owed, queuedAt);
    },
    afterCommit: async () => {
      const ips = owed;
      owed = [];
      ctx.onRescore?.(ips);
      if (ips.length === 0) return;
      await rescoreIps(store, ips, ctx);
      await clearRescores(store, ips, queuedAt);
    },
  };
}
