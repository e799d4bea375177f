import { createHash } from 'node:crypto';
import { canonicalJson } from '../../core/nmap/fingerprint.ts';
import { PlumError } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import type { SearchFields } from '../../core/fields.ts';
import {
  compileRules, createPortTagger, evaluateRules, timeDependentRules, type Evaluation, type RuleSet,
} from '../../core/rules/engine.ts';
import type { PlumConfig } from '../../core/config.ts';
import { loadFaviconDb, type FaviconDb } from '../../core/rules/favicon-db.ts';
import { importLegacyRules, validateRule, type ImportProblem } from '../../core/rules/import.ts';
import { BUILTIN_RULES_DIR, loadRuleFiles } from '../../core/rules/load.ts';
import { compareVersions, ruleHash, type Rule, type RuleTestDoc, type Severity } from '../../core/rules/schema.ts';
import {
  loadScoreConfig, scoreFileOf, scoreHost, scorePort, type PortScoreInput, type ScoreConfig, type ScoreResult,
} from '../../core/score.ts';
import type { Store, StoreSession } from '../index.ts';
import { canonicalIp } from '../../core/coverage.ts';
import { clearRescores, queueRescores } from './pending-rescores.ts';
import { candidateCondition, candidatesByIp } from './rule-candidates.ts';
import { hostsJudgedByTime, portInput, selectObsSql, writeHostScores, type ObsRow } from './host-score.ts';
import { listStoredRules, syncRulesDir, type RuleMergeResult } from './rule-table.ts';
import { storedTagsFollow, TAGGED_KEY, taggedSetHash } from './tagged-state.ts';

export {
  getStoredRule, importRulesDir, listStoredRules, mergeRules, removeRule, setRuleEnabled, syncRulesDir, type RuleMergeResult,
} from './rule-table.ts';

/** The stored rules, compiled (loads the shipped rules first if the table is still empty). */
export async function loadStoredRuleSet(store: Store, opts: { favicons?: FaviconDb; rulesDir?: string } = {}): Promise<RuleSet> {
  let rules = await listStoredRules(store);
  if (rules.length === 0) {
    await syncRulesDir(store, opts.rulesDir ?? BUILTIN_RULES_DIR);
    rules = await listStoredRules(store);
  }
  return compileRules(rules, { favicons: opts.favicons });
}

export interface RuleContext {
  set: RuleSet;
  score: ScoreConfig;
  favicons: FaviconDb;
  rulesDir: string;
}

/**
 * Everything rule evaluation needs, from the configuration: nmap's favicon
 * database, the score file, and the stored rules (the rules directory is
 * synced first when `sync` is set, as `plum rules apply` does).
 */
export async function openRuleContext(store: Store, config: PlumConfig, opts: { sync?: boolean } = {}): Promise<RuleContext & { synced?: RuleMergeResult }> {
  const rulesDir = config.PLUM_RULES_DIR ?? BUILTIN_RULES_DIR;
  const favicons = await loadFaviconDb(config.PLUM_FAVICON_DB);
  const score = await loadScoreConfig(scoreFileOf(config));
  const synced = opts.sync ? await syncRulesDir(store, rulesDir) : undefined;
  const set = await loadStoredRuleSet(store, { favicons, rulesDir });
  return { set, score, favicons, rulesDir, synced };
}

/* ------------------------------------------------------------------ scoring and re-tagging */

/** What is stored in port_observations.score_features. */
export const storedFeatures = (s: ScoreResult) => ({ band: s.band, features: s.features });

interface BatchContext {
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
async function processIps(tx: StoreSession, ips: string[], ctx: BatchContext): Promise<BatchOutcome> {
  const out: BatchOutcome = { documents: 0, retagged: 0, rescored: 0, hosts: 0 };
  if (ips.length === 0) return out;
  const retag = ctx.affected !== undefined;
  const rows = ctx.candidates === undefined || !retag ? await tx.query<ObsRow>(selectObsSql(retag), [ips])
    : ctx.candidates === 'dated' ? await tx.query<ObsRow>(selectObsSql('dated'), [ips])
      : await tx.query<ObsRow>(selectObsSql('listed'), [ips, ctx.candidates]);
  const updates: { id: string; tags: string[]; rules: string[]; score: number; score_features: unknown }[] = [];
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
    const tagsChanged = ev.tags.length !== r.tags.length || ev.tags.some((t, i) => t !== r.tags[i])
      || ev.rules.length !== r.rules.length || ev.rules.some((t, i) => t !== r.rules[i]);
    const s = scorePort(portInput(r, at, ev.tags), ctx.score);
    const sf = storedFeatures(s);
    const scoreChanged = s.score !== r.score || canonicalJson(sf) !== canonicalJson(r.score_features);
    if (tagsChanged || scoreChanged) {
      updates.push({ id: r.id, tags: ev.tags, rules: ev.rules, score: s.score, score_features: sf });
      if (tagsChanged) out.retagged++;
      if (scoreChanged) out.rescored++;
    }
    if (r.current && r.state === 'open') openByIp.get(r.ip)?.push(portInput(r, at, ev.tags));
  }
  if (updates.length > 0) {
    await tx.query(
      `update port_observations o set tags = x.tags, rules = x.rules, score = x.score, score_features = x.score_features
       from jsonb_to_recordset($1::jsonb) as x(id text, tags text[], rules text[], score int, score_features jsonb)
       where o.id = x.id`,
      [JSON.stringify(updates)]);
  }
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
    const part = await store.transaction((tx) => processIps(tx, unique.slice(i, i + 500), { set: ctx.set, score: ctx.score, affected, now: ctx.now, candidates: 'dated' }));
    addOutcome(total, part);
  }
  return total;
}

function addOutcome(a: BatchOutcome, b: BatchOutcome): void {
  a.documents += b.documents;
  a.retagged += b.retagged;
  a.rescored += b.rescored;
  a.hosts += b.hosts;
}

/**
 * What ingest needs from the rules (IngestDeps): tags at ingest, then the
 * scores of the touched hosts once the batch is committed (a score needs the
 * slot's history: when it first appeared, when it last changed).
 */
export function createRuleIngestDeps(store: Store, ctx: { set: RuleSet; score: ScoreConfig; now?: () => Date }) {
  const tagPort = createPortTagger(ctx.set, { now: ctx.now });
  type Committed = { observations: { ip: string; settled?: boolean }[]; events: { ip: string }[] };
  const touched = (c: Committed) => [...c.observations.map((o) => o.ip), ...c.events.map((e) => e.ip)];
  // Batches commit one after the other: the time the last one queued its hosts is what its rescoring clears.
  let queuedAt = new Date(0);
  const tagging = taggedSetHash(ctx.set, factsHash(ctx.set.favicons));
  const weights = scoreHash(ctx.score);
  /**
   * The hosts whose scores this batch may have moved: those with an event or a port off the stable fast path,
   * and, of the hosts whose every port was only sighted again, those whose scores move with time. Rescoring
   * every host of a stable pass read and recomputed all their documents to write nothing.
   */
  const toRescore = async (c: Committed): Promise<string[]> => {
    const moved = new Set([...c.events.map((e) => e.ip), ...c.observations.filter((o) => !o.settled).map((o) => o.ip)]);
    const settled = [...new Set(c.observations.filter((o) => o.settled && !moved.has(o.ip)).map((o) => o.ip))];
    return settled.length === 0 ? [...moved] : [...moved, ...await hostsJudgedByTime(store, settled, SCORE_KEY, weights)];
  };
  return {
    tagPort,
    storedTagsFollow: (tx: StoreSession) => storedTagsFollow(tx, tagging, [{ name: SCORE_KEY, hash: weights }]),
    // Owed scores are recorded with the batch, so a process killed before rescoring leaves them to the next ingest.
    beforeCommit: async (tx: StoreSession, c: Committed) => {
      queuedAt = new Date();
      await queueRescores(tx, touched(c), queuedAt);
    },
    afterCommit: async (c: Committed) => {
      const all = touched(c);
      if (all.length === 0) return;
      const ips = await toRescore(c);
      if (ips.length > 0) await rescoreIps(store, ips, ctx);
      await clearRescores(store, all, queuedAt);
    },
  };
}

/* ------------------------------------------------------------------ apply */

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

export interface ApplyPlan {
  /** Rules new or changed since the last apply. */
  changed: string[];
  /** Rules applied before and now gone or disabled. */
  removed: string[];
  /** Rules that run again: changed ones and those reading their tags. */
  affected: string[];
  factsChanged: boolean;
  scoreChanged: boolean;
}

export interface ApplySummary extends ApplyPlan, BatchOutcome {
  ips: number;
  durationMs: number;
}

export async function planApply(store: StoreSession, set: RuleSet, cfg: ScoreConfig, opts: { force?: boolean } = {}): Promise<ApplyPlan> {
  const applied = new Map((await store.query<{ name: string; hash: string }>('select name, hash from rule_applications')).map((r) => [r.name, r.hash]));
  const factsChanged = opts.force === true || applied.get(FACTS_KEY) !== factsHash(set.favicons);
  const scoreChanged = opts.force === true || applied.get(SCORE_KEY) !== scoreHash(cfg);
  const changed = set.rules.filter((r) => factsChanged || applied.get(r.name) !== r.hash).map((r) => r.name);
  const removed = [...applied.keys()].filter((n) => !n.startsWith('@') && !set.byName.has(n)).sort();
  const affected = new Set(changed);
  // A removed rule's tags are gone: every rule reading tags must look again.
  if (removed.length > 0) for (const r of set.rules) if (/\btag(\.[a-z]+)?[:<>]/i.test(r.query)) affected.add(r.name);
  // Rules reading an affected rule's tags are affected too (the set is in dependency order).
  for (const r of set.rules) if (r.dependsOn.some((d) => affected.has(d))) affected.add(r.name);
  return { changed, removed, affected: set.rules.filter((r) => affected.has(r.name)).map((r) => r.name), factsChanged, scoreChanged };
}

/**
 * `plum rules apply`: re-tags the stored documents from their stored fields
 * (never re-parsing raw XML) with the rules changed since the last apply (and
 * those reading their tags), and recomputes port and host scores. Works host by
 * host in ip order, one transaction per batch; the applied rule hashes are
 * recorded at the end, so an interrupted apply simply runs again.
 */
export async function applyRules(store: Store, set: RuleSet, cfg: ScoreConfig, opts: {
  force?: boolean;
  batchIps?: number;
  onProgress?: (p: { ips: number; documents: number }) => void;
} = {}): Promise<ApplySummary> {
  const started = Date.now();
  const plan = await planApply(store, set, cfg, opts);
  const summary: ApplySummary = { ...plan, ips: 0, documents: 0, retagged: 0, rescored: 0, hosts: 0, durationMs: 0 };
  const retag = plan.affected.length > 0 || plan.removed.length > 0;
  const batch = opts.batchIps ?? 2000;
  // A few rules edited, weights unchanged: only the hosts of documents those rules matched or match now.
  const narrow = retag && !plan.scoreChanged && !opts.force ? candidateCondition(set, plan.affected, plan.removed) : undefined;
  if (narrow) {
    const byIp = await candidatesByIp(store, narrow);
    const ips = [...byIp.keys()];
    for (let i = 0; i < ips.length; i += batch) {
      const part = ips.slice(i, i + batch);
      const ctx: BatchContext = { set, score: cfg, affected: new Set(plan.affected), candidates: part.flatMap((ip) => byIp.get(ip)!) };
      addOutcome(summary, await store.transaction((tx) => processIps(tx, part, ctx)));
      summary.ips += part.length;
      opts.onProgress?.({ ips: summary.ips, documents: summary.documents });
    }
  } else if (retag || plan.scoreChanged) {
    const ctx: BatchContext = { set, score: cfg, affected: retag ? new Set(plan.affected) : undefined };
    let after: string | null = null;
    for (;;) {
      const ips: string[] = (await store.query<{ ip: string }>(
        after === null
          // Qualified: a bare `order by ip` would sort by the text output column, not by inet.
          ? 'select host(p.ip) as ip from port_observations p group by p.ip order by p.ip limit $1'
          : 'select host(p.ip) as ip from port_observations p where p.ip > $2::inet group by p.ip order by p.ip limit $1',
        after === null ? [batch] : [batch, after])).map((r) => r.ip);
      if (ips.length === 0) break;
      const part = await store.transaction((tx) => processIps(tx, ips, ctx));
      addOutcome(summary, part);
      summary.ips += ips.length;
      after = ips[ips.length - 1]!;
      opts.onProgress?.({ ips: summary.ips, documents: summary.documents });
    }
  }
  await store.transaction(async (tx) => {
    await tx.query('delete from rule_applications');
    const rows = [
      ...set.rules.map((r) => ({ name: r.name, hash: r.hash })),
      { name: FACTS_KEY, hash: factsHash(set.favicons) },
      { name: SCORE_KEY, hash: scoreHash(cfg) },
      // Every document now follows this set: ingest may keep a stable sighting's stored tags (tagged-state.ts).
      { name: TAGGED_KEY, hash: taggedSetHash(set, factsHash(set.favicons)) },
    ];
    await tx.query(
      `insert into rule_applications (name, hash, applied_at)
       select x.name, x.hash, now() from jsonb_to_recordset($1::jsonb) as x(name text, hash text)`,
      [JSON.stringify(rows)]);
  });
  summary.durationMs = Date.now() - started;
  return summary;
}

/* ------------------------------------------------------------------ explain */

export interface PortExplanation extends ScoreResult {
  protocol: string;
  port: number;
  hsh256: string;
  tags: string[];
}

export interface HostExplanation extends ScoreResult {
  ip: string;
  ports: PortExplanation[];
}

/**
 * The score of a host and of each of its open ports, computed from the stored
 * tags and history with the given configuration (what apply and ingest store).
 */
export async function explainHost(store: StoreSession, ip: string, cfg: ScoreConfig, at = new Date()): Promise<HostExplanation> {
  const canon = canonicalIp(ip);
  const rows = await store.query<ObsRow>(
    `select * from (${selectObsSql(false, true)}) q where current and state = 'open' order by protocol, port`,
    [canon]);
  if (rows.length === 0) {
    const known = await store.query<{ n: number }>('select count(*)::int as n from port_observations where ip = $1::inet', [canon]);
    if ((known[0]?.n ?? 0) === 0) {
      throw new PlumError('not_found', `no observation of ${canon}`, { hint: 'scan or ingest it first, or check the address with `plum search ip:' + canon + '`' });
    }
  }
  const ports = rows.map((r) => ({ protocol: r.protocol, port: r.port, hsh256: r.hsh256, tags: r.tags, ...scorePort(portInput(r, at), cfg) }));
  const host = scoreHost(rows.map((r) => portInput(r, at)), cfg);
  return { ip: canon, ...host, ports };
}

/** Current open port documents of one ip, for `plum rules test RULE IP`. */
export async function hostDocuments(store: StoreSession, ip: string): Promise<{ protocol: string; port: number; hsh256: string; fields: SearchFields; tags: string[]; last_seen: Date }[]> {
  const canon = canonicalIp(ip);
  return store.query(
    `select protocol, port, hsh256, fields, tags, last_seen from port_observations join observation_sightings using (id)
     where ip = $1::inet and current and state = 'open' order by protocol, port`,
    [canon]);
}
