import type { PlumConfig } from '../../core/config.ts';
import { compileRules, type RuleSet } from '../../core/rules/engine.ts';
import { loadFaviconDb, type FaviconDb } from '../../core/rules/favicon-db.ts';
import { BUILTIN_RULES_DIR } from '../../core/rules/load.ts';
import { loadScoreConfig, scoreFileOf, type ScoreConfig } from '../../core/score.ts';
import type { Store } from '../index.ts';
import { listStoredRules, syncRulesDir, type RuleMergeResult } from '../repos/rule-table.ts';

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
