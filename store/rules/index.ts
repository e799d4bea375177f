/*
 * The rules service over the store: the stored rule set and what evaluating it needs (context.ts), the
 * applications recorded (applications.ts), rescoring after ingest (rescore.ts), `plum rules apply` (apply.ts)
 * and a host's score explained (explain.ts). The rule table itself is store/repos/rule-table.ts.
 */
export * from './applications.ts';
export * from './apply.ts';
export * from './context.ts';
export * from './explain.ts';
export * from './rescore.ts';
export {
  getStoredRule,
  importRulesDir,
  listStoredRules,
  mergeRules,
  removeRule,
  setRuleEnabled,
  syncRulesDir,
  type RuleMergeResult,
} from '../repos/rule-table.ts';
