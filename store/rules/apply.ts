import type { RuleSet } from '../../core/rules/engine.ts';
import type { ScoreConfig } from '../../core/score.ts';
import type { Store, StoreSession } from '../index.ts';
import { candidateCondition, candidatesByIp } from '../repos/rule-candidates.ts';
import { TAGGED_KEY, taggedSetHash } from '../repos/tagged-state.ts';
import { FACTS_KEY, factsHash, SCORE_KEY, scoreHash } from './applications.ts';
import { addOutcome, processIps, type BatchContext, type BatchOutcome } from './rescore.ts';

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
export async function applyRules(
  store: Store,
  set: RuleSet,
  cfg: ScoreConfig,
  opts: {
    force?: boolean;
    batchIps?: number;
    onProgress?: (p: { ips: number; documents: number }) => void;
  } = {},
): Promise<ApplySummary> {
  const started = Date.now();
  const plan = await planApply(store, set, cfg, opts);
  const summary: ApplySummary = { ...plan, ips: 0, documents: 0, retagged: 0, rescored: 0, hosts: 0, durationMs: 0 };
  const retag = plan.affected.length > 0 || plan.removed.length > 0;
  const batch = opts.batchIps ?? 2000;
  // Two batches in flight, each in its own transaction: one batch's rules run in Node while the other's statements
  // run in the database (each side was idle half the time). Batches hold disjoint hosts.
  let previous: Promise<void> | undefined;
  const runBatch = async (ips: string[], ctx: BatchContext) => {
    const current = store
      .transaction((tx) => processIps(tx, ips, ctx))
      .then((part) => {
        addOutcome(summary, part);
        summary.ips += ips.length;
        opts.onProgress?.({ ips: summary.ips, documents: summary.documents });
      });
    current.catch(() => {}); // surfaced when awaited below
    const before = previous;
    previous = current;
    if (before) await before;
  };
  try {
    // A few rules edited, weights unchanged: only the hosts of documents those rules matched or match now.
    const narrow = retag && !plan.scoreChanged && !opts.force ? candidateCondition(set, plan.affected, plan.removed) : undefined;
    if (narrow) {
      const byIp = await candidatesByIp(store, narrow);
      const ips = [...byIp.keys()];
      for (let i = 0; i < ips.length; i += batch) {
        const part = ips.slice(i, i + batch);
        await runBatch(part, { set, score: cfg, affected: new Set(plan.affected), candidates: part.flatMap((ip) => byIp.get(ip)!) });
      }
    } else if (retag || plan.scoreChanged) {
      const ctx: BatchContext = { set, score: cfg, affected: retag ? new Set(plan.affected) : undefined };
      let after: string | null = null;
      for (;;) {
        const ips: string[] = (
          await store.query<{ ip: string }>(
            after === null
              ? // Qualified: a bare `order by ip` would sort by the text output column, not by inet.
                'select host(p.ip) as ip from port_observations p group by p.ip order by p.ip limit $1'
              : 'select host(p.ip) as ip from port_observations p where p.ip > $2::inet group by p.ip order by p.ip limit $1',
            after === null ? [batch] : [batch, after],
          )
        ).map((r) => r.ip);
        if (ips.length === 0) break;
        await runBatch(ips, ctx);
        after = ips[ips.length - 1]!;
      }
    }
    await previous;
  } catch (e) {
    // Not leaving a transaction running behind the error.
    await previous?.catch(() => {});
    throw e;
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
      [JSON.stringify(rows)],
    );
  });
  summary.durationMs = Date.now() - started;
  return summary;
}
