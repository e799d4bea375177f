import { describe, expect, it } from 'vitest';
import { loadFaviconDb } from './favicon-db.ts';
import { BUILTIN_RULES_DIR, loadRuleFiles, loadRules } from './load.ts';
import { runRuleTests } from './testing.ts';
import { canonicalJson } from '../nmap/fingerprint.ts';
import { DEFAULT_SCORE_FILE, loadScoreConfig } from '../score.ts';

describe('shipped rules', () => {
  it('cover every category of the issue', async () => {
    const tags = new Set((await loadRuleFiles(BUILTIN_RULES_DIR)).flatMap((r) => r.tags));
    for (const t of [
      'proto:ssh',
      'os:debian',
      'os:ubuntu',
      'proto:telnet',
      'proto:rdp',
      'proto:vnc',
      'proto:ftp',
      'proto:smtp',
      'proto:imap',
      'proto:pop3',
      'product:mysql',
      'product:mariadb',
      'product:postgresql',
      'product:mongodb',
      'product:redis',
      'product:elasticsearch',
      'product:memcached',
      'vendor:fortinet',
      'product:globalprotect',
      'product:anyconnect',
      'product:netscaler',
      'vendor:ivanti',
      'vendor:sonicwall',
      'vendor:sophos',
      'vendor:watchguard',
      'vendor:checkpoint',
      'product:idrac',
      'product:ilo',
      'proto:ipmi',
      'product:webmin',
      'product:phpmyadmin',
      'product:jenkins',
      'product:kubernetes',
      'product:docker',
      'type:cms',
      'type:web-server',
      'lang:php',
      'vuln:opendir',
      'vuln:phpinfo',
      'vuln:default-page',
      'vuln:tls-expired',
      'vuln:tls-self-signed',
      'vuln:tls-weak-key',
    ])
      expect(tags.has(t), t).toBe(true);
  });

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
      expect(r.source.endsWith(`/${r.name}.yaml`), `${r.source} holds rule ${r.name}`).toBe(true);
      expect(r.tests?.match.length, r.name).toBeGreaterThan(0);
      expect(r.tests?.no_match.length, r.name).toBeGreaterThan(0);
    }
  });
});

describe('stored hashes', () => {
  // Rule and score hashes are stored (rule_applications): the canonical JSON they hash must not change between
  // releases, or every database would re-apply all rules after an upgrade. RFC 8785 is the reference.
  it('rule bodies and score weights serialise exactly as RFC 8785 (the canonicalize package)', async () => {
    const { default: canonicalize } = await import('canonicalize');
    const rules = await loadRuleFiles(BUILTIN_RULES_DIR);
    for (const r of rules) {
      const body = { query: r.query, tags: [...r.tags].sort(), enabled: r.enabled !== false };
      expect(canonicalJson(body), r.name).toBe(canonicalize(body));
      expect(canonicalJson(r.tests ?? null), r.name).toBe(canonicalize(r.tests ?? null));
    }
    const score = await loadScoreConfig(DEFAULT_SCORE_FILE);
    expect(canonicalJson(score)).toBe(canonicalize(score));
  });
});
