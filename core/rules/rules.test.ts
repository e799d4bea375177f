import { describe, expect, it } from 'vitest';
import { loadFaviconDb } from './favicon-db.ts';
import { BUILTIN_RULES_DIR, loadRuleFiles, loadRules } from './load.ts';
import { runRuleTests } from './testing.ts';

describe('shipped rules', () => {
  it('load, compile, and every rule passes its own test cases', async () => {
    const favicons = await loadFaviconDb();
    const set = await loadRules(BUILTIN_RULES_DIR, { favicons });
    expect(set.rules.length).toBeGreaterThanOrEqual(60);
    const report = runRuleTests(set);
    expect(report.untested).toEqual([]);
    expect(report.failures.map((f) => `${f.rule} ${f.kind}[${f.index}] tags=${f.tags.join(' ')}`)).toEqual([]);
    expect(report.cases).toBeGreaterThanOrEqual(2 * set.rules.length);
  });

  it('every rule file has at least one match and one no_match case', async () => {
    const rules = await loadRuleFiles(BUILTIN_RULES_DIR);
    for (const r of rules) {
      expect(r.tests?.match.length, r.name).toBeGreaterThan(0);
      expect(r.tests?.no_match.length, r.name).toBeGreaterThan(0);
    }
  });
});
