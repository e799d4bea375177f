import { describe, expect, it } from 'vitest';
import { PlumError } from '../errors.ts';
import { emptySearchFields } from '../fields.ts';
import { parseQuery } from '../query/index.ts';
import { compileRules, createPortTagger, evaluateRules, queryGuard } from './engine.ts';
import { faviconNameTags, parseFaviconDb } from './favicon-db.ts';
import { certificateProblems, timeFactsMove } from './facts.ts';
import { neverMatches } from './import.ts';
import { parseRuleText } from './load.ts';
import { toRule, type RuleFile } from './schema.ts';

const rule = (name: string, query: string, tags: string[]) => toRule({ description: name, query, tags, version: '1' } as RuleFile, name, `${name}.yaml`);
const at = new Date('2026-01-01T00:00:00Z');

describe('compileRules', () => {
  it('orders rules so that tag producers run before their readers', () => {
    const set = compileRules([
      rule('c-exposed', 'tag:type:database', ['exposure:db']),
      rule('b-alert', 'tag:exposure:db tag.bg:product:', ['alert:db']),
      rule('a-redis', 'service_name:redis', ['product:redis', 'type:database']),
    ]);
    expect(set.rules.map((r) => r.name)).toEqual(['a-redis', 'c-exposed', 'b-alert']);
    expect(set.byName.get('b-alert')!.dependsOn).toEqual(['a-redis', 'c-exposed']);
    const ev = evaluateRules(set, { ...emptySearchFields(), service_name: ['Redis'] }, { at });
    expect(ev.rules).toEqual(['a-redis', 'c-exposed', 'b-alert']);
    expect(ev.tags).toEqual(['alert:db', 'exposure:db', 'product:redis', 'type:database']);
  });

  it('refuses cycles, self-reference, duplicate names and time terms with one-line errors', () => {
    expect(() => compileRules([rule('a', 'tag:x:b', ['x:a']), rule('b', 'tag:x:a', ['x:b'])])).toThrow(/cycle: a, b/);
    expect(() => compileRules([rule('self', 'port:1 OR tag.bg:x:', ['x:self'])])).toThrow(/cycle: self/);
    expect(() => compileRules([rule('a', 'port:1', ['x:a']), rule('a', 'port:2', ['x:b'])])).toThrow(/two rules are named a/);
    expect(() => compileRules([rule('t', 'port:22 since:7', ['x:t'])])).toThrow(/"since" cannot be used in a rule/);
    expect(() => compileRules([rule('s', 'nofield:1', ['x:s'])])).toThrow(PlumError);
  });

  it('skips disabled rules', () => {
    const r = { ...rule('off', 'port:22', ['x:off']), enabled: false };
    expect(compileRules([r]).rules).toEqual([]);
  });
});

describe('queryGuard', () => {
  it('gives a necessary non-empty field set, or null when none exists', () => {
    expect(queryGuard(parseQuery('banner.bg:ssh- banner.lk:debian'))).toEqual(['banner']);
    expect(queryGuard(parseQuery('http_title:x OR http_server:y'))!.sort()).toEqual(['http_server', 'http_title']);
    expect(queryGuard(parseQuery('NOT http_title:x'))).toBeNull();
    expect(queryGuard(parseQuery('http_title:x OR tag:a:b'))).toBeNull();
    expect(queryGuard(parseQuery('net:127.0.0.0/8'))).toEqual(['ip']);
  });
  it('a NOT-only rule still runs on documents without fields', () => {
    const set = compileRules([rule('no-title', 'NOT http_title.lk:x', ['x:notitle'])]);
    expect(evaluateRules(set, emptySearchFields(), { at }).rules).toEqual(['no-title']);
  });
});

describe('fact tags', () => {
  it('maps nmap favicon-db names to tags', () => {
    expect(faviconNameTags('Joomla! CMS')).toEqual(['favicon:joomla-cms', 'type:cms', 'product:joomla']);
    const db = parseFaviconDb('# comment\n\nFA54DBF2F61BD2E0188E47F5F578F736: WordPress CMS\nnot a line\n');
    expect(db.entries.size).toBe(1);
    const set = compileRules([rule('wp', 'tag:favicon:wordpress-cms', ['product:wordpress'])], { favicons: db });
    const tagger = createPortTagger(set, { now: () => at });
    expect(tagger({ fields: { ...emptySearchFields(), http_favicon_md5: ['fa54dbf2f61bd2e0188e47f5f578f736'] } }).rules).toEqual(['wp']);
    expect(tagger({ fields: emptySearchFields() }).rules).toEqual([]);
  });
  it('judges certificates at the scan time', () => {
    const f = {
      x509_not_before: ['2025-01-01T00:00:00Z'],
      x509_not_after: ['2026-01-10T00:00:00Z'],
      x509_subject: ['CN=a'],
      x509_issuer: ['CN=b'],
      x509_key_type: ['rsa'],
      x509_key_bits: ['2048'],
    };
    expect(certificateProblems(f, at)).toEqual(['expiring-soon']);
    expect(certificateProblems(f, new Date('2026-02-01T00:00:00Z'))).toEqual(['expired']);
    expect(certificateProblems(f, new Date('2024-02-01T00:00:00Z'))).toEqual(['not-yet-valid']);
    expect(certificateProblems({ ...f, x509_issuer: ['cn=A'], x509_key_bits: ['1024'] }, new Date('2025-06-01'))).toEqual(['self-signed', 'weak-key']);
    expect(certificateProblems({ x509_key_type: ['ec'], x509_key_bits: ['256'] }, at)).toEqual([]);
  });

  // A certificate valid 2025-01-01 .. 2026-01-10: not yet valid, then valid, then expiring soon (30 days), then expired.
  const cert = { x509_not_before: ['2025-01-01T00:00:00Z'], x509_not_after: ['2026-01-10T00:00:00Z'], x509_subject: ['CN=a'], x509_issuer: ['CN=a'] };
  it.each([
    ['inside the validity, far from expiry', cert, '2025-03-01', '2025-06-01', false],
    ['across the start of validity', cert, '2024-12-31', '2025-01-02', true],
    ['into the expiring-soon period', cert, '2025-12-01', '2025-12-20', true],
    ['inside the expiring-soon period', cert, '2025-12-20', '2026-01-05', false],
    ['across expiry', cert, '2026-01-05', '2026-01-11', true],
    ['long expired', cert, '2026-02-01', '2027-02-01', false],
    ['backwards across expiry (an older scan)', cert, '2026-01-11', '2026-01-05', true],
    ['the same instant', cert, '2026-01-10', '2026-01-10', false],
    ['no certificate dates (self-signed only: not time-dependent)', { x509_subject: ['CN=a'], x509_issuer: ['CN=a'] }, '2000-01-01', '2030-01-01', false],
    ['unparsable dates', { x509_not_after: ['soon'] }, '2000-01-01', '2030-01-01', false],
    ['one of two certificates expires', { x509_not_after: ['2026-01-10T00:00:00Z', '2030-01-01T00:00:00Z'] }, '2026-01-05', '2026-01-11', true],
  ])('time-dependent fact tags move %s: %s', (_name, fields, from, to, moves) => {
    expect(timeFactsMove(fields, new Date(from), new Date(to))).toBe(moves);
  });
});

describe('rule files and never-matching queries', () => {
  it('parses a rule file and names the file and field on errors', () => {
    const r = parseRuleText('description: d\nquery: port:22\ntags: [Proto:SSH]\nversion: 2024-01-01\n', '/x/My Rule.yaml');
    expect(r).toMatchObject({ name: 'my-rule', tags: ['proto:ssh'], version: '2024-01-01', enabled: true });
    expect(() => parseRuleText('description: d\nquery: port:22\ntags: [nonamespace]\nversion: 1\n', 'f.yaml')).toThrow(
      /f.yaml: tags.0: tags are namespace:value/,
    );
    expect(() => parseRuleText('description: d\nquery: port:22\ntags: [a:b]\nversion: 1\nextra: 1\n', 'f.yaml')).toThrow(/f.yaml: .*extra/);
    expect(() =>
      parseRuleText('description: d\nquery: port:22\ntags: [a:b]\nversion: 1\ntests: {match: [{nofield: x}], no_match: [{port: 1}]}\n', 'f.yaml'),
    ).toThrow(/unknown field "nofield"/);
  });
  it('finds queries that can never match', () => {
    expect(neverMatches(parseQuery('protocol:tpc'))).toMatch(/protocol/);
    expect(neverMatches(parseQuery('protocol:tpc OR port:22'))).toBeUndefined();
    expect(neverMatches(parseQuery('port:22 x509_sha1:abc'))).toMatch(/SHA-1/);
    expect(neverMatches(parseQuery('NOT x509_sha1:abc'))).toBeUndefined();
    expect(neverMatches(parseQuery('http_favicon_mmhash:99999999999'))).toMatch(/32-bit/);
    expect(neverMatches(parseQuery('http_favicon_mmhash:-1137154278'))).toBeUndefined();
    expect(neverMatches(parseQuery('tag:opendir'))).toMatch(/namespace/);
  });
});
