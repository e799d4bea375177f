import { emptySearchFields, type SearchFields } from '../fields.ts';
import { evaluateRules, type RuleSet } from './engine.ts';
import type { RuleTestDoc } from './schema.ts';

/**
 * Rule test documents are judged at a fixed instant so that certificate dates
 * in them (expired, expiring soon) give the same verdict every day.
 */
export const RULE_TEST_TIME = new Date('2026-01-01T00:00:00Z');

export interface RuleTestFailure {
  rule: string;
  source: string;
  kind: 'match' | 'no_match';
  index: number;
  doc: RuleTestDoc;
  /** Tags the whole rule set produced on the document. */
  tags: string[];
}

export interface RuleTestReport {
  rules: number;
  cases: number;
  failures: RuleTestFailure[];
  /** Enabled rules that carry no test cases. */
  untested: string[];
}

export function testDocFields(doc: RuleTestDoc): SearchFields {
  const fields = emptySearchFields();
  for (const [k, v] of Object.entries(doc)) if (k !== 'tags') (fields as unknown as Record<string, string[]>)[k] = v as string[];
  return fields;
}

/**
 * Runs every rule's test documents through the WHOLE rule set (so rules that
 * read other rules' tags are tested as they run at ingest) and checks whether
 * the rule under test fired.
 */
export function runRuleTests(set: RuleSet, names?: readonly string[]): RuleTestReport {
  const report: RuleTestReport = { rules: 0, cases: 0, failures: [], untested: [] };
  for (const rule of set.rules) {
    if (names && !names.includes(rule.name)) continue;
    report.rules++;
    if (!rule.tests) {
      report.untested.push(rule.name);
      continue;
    }
    for (const kind of ['match', 'no_match'] as const) {
      rule.tests[kind].forEach((doc, index) => {
        report.cases++;
        const ev = evaluateRules(set, testDocFields(doc), { at: RULE_TEST_TIME, extraTags: doc.tags });
        const fired = ev.rules.includes(rule.name);
        if (fired !== (kind === 'match')) {
          report.failures.push({ rule: rule.name, source: rule.source, kind, index, doc, tags: ev.tags });
        }
      });
    }
  }
  return report;
}
