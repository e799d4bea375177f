import { describe, expect, it } from 'vitest';
import { emptySearchFields } from '../fields.ts';
import { matchFields } from '../query/evaluate.ts';
import { parseQuery } from '../query/parse.ts';
import { compactTime, rewriteLegacyRule, shellSplit, translateLegacyQuery, translateLegacyTag } from './legacy.ts';
import { compareVersions } from './schema.ts';

describe("the predecessor's rules, read with its meaning", () => {
  it.each([
    ['a b  c', ['a', 'b', 'c']],
    ['http_title.lk:"index of" port:80', ['http_title.lk:index of', 'port:80']],
    ["banner.bg:'+OK Dovecot'", ['banner.bg:+OK Dovecot']],
    ['x:"a \\"b\\"" y:c\\ d', ['x:a "b"', 'y:c d']],
    ['', []],
  ])('splits %j shell-style', (text, tokens) => {
    expect(shellSplit(text)).toEqual(tokens);
  });

  it('refuses an unterminated quote', () => {
    expect(() => shellSplit('http_title:"abc')).toThrow('unterminated double quote');
  });

  it.each([
    ['http_title.lk:phpinfo()', 'http_title.lk:"phpinfo()"'],
    ['http_server.lk:(Win64) port:80', 'http_server.lk:"(Win64)" port:80'],
    ['http_title.lk:"index of" or http_title.bg:"Directory listing"', 'http_title.lk:"index of" OR http_title.bg:"Directory listing"'],
    ['x509_subject.lk:fortinet', 'x509_subject_cn.lk:fortinet'],
    ['x509_issuer:"Acme CA"', 'x509_issuer_cn:"Acme CA"'],
    ['http_headval:server.lk:"Apache (Debian)"', 'http_headval:server.lk:"Apache (Debian)"'],
    ['port:22 banner.bg:ssh-2.0-openssh', 'port:22 banner.bg:ssh-2.0-openssh'],
  ])('translates %j into %j', (legacy, plum) => {
    const { query } = translateLegacyQuery(legacy);
    expect(query).toBe(plum);
    expect(() => parseQuery(query)).not.toThrow();
  });

  it('matches what the predecessor matched: parentheses are part of values, certificates by common name', () => {
    const fields = {
      http_title: ['phpinfo()'],
      http_server: ['Apache/2.4.58 (Win64) PHP/8.2'],
      x509_subject: ['CN=vpn.example.org,O=Example'],
      x509_subject_cn: ['vpn.example.org'],
    };
    const doc = { fields: { ...emptySearchFields(), ...fields }, tags: [] };
    expect(matchFields(parseQuery(translateLegacyQuery('http_title.lk:phpinfo()').query), doc)).toBe(true);
    expect(matchFields(parseQuery(translateLegacyQuery('http_server.lk:(Win64)').query), doc)).toBe(true);
    // The predecessor stored the CN only: an exact subject term named the CN.
    expect(matchFields(parseQuery(translateLegacyQuery('x509_subject:vpn.example.org').query), doc)).toBe(true);
  });

  it.each([
    ['vuln:opendir', 'vuln:opendir', false],
    ['Product:OpenSSH', 'product:openssh', false],
    ['vuln:weak!', 'vuln:weak', true],
    ['type:nas/san!!x', 'type:nas/san-x', true],
  ])('tag %j → %j', (legacy, plum, noted) => {
    const r = translateLegacyTag(legacy);
    expect(r.tag).toBe(plum);
    expect(r.note !== undefined).toBe(noted);
  });

  it('rewrites a predecessor rule with notes, and leaves a rule with Plum tests alone', () => {
    const r = rewriteLegacyRule({ description: 'x', query: 'http_title.lk:phpinfo()', tags: ['vuln:phpinfo!'], version: '20260520T133458Z' });
    expect(r).toEqual({
      query: 'http_title.lk:"phpinfo()"',
      tags: ['vuln:phpinfo'],
      notes: [expect.stringContaining('phpinfo()'), expect.stringContaining('vuln:phpinfo!')],
    });
    expect(rewriteLegacyRule({ description: 'x', query: '(port:80 OR port:443)', tags: ['a:b'], version: '1', tests: {} })).toBeUndefined();
  });

  it("compares the predecessor's compact versions as times, also against ISO dates", () => {
    expect(compactTime('20260520T133458Z')).toBe(Date.UTC(2026, 4, 20, 13, 34, 58));
    expect(compareVersions('20260520T133458Z', '20250101T000000Z')).toBe(1);
    expect(compareVersions('20260520T133458Z', '2026-11-23')).toBe(-1);
    expect(compareVersions('2026-11-23', '20260520T133458Z')).toBe(1);
    expect(compareVersions('20260520T133458Z', '20260520T133458Z')).toBe(0);
  });
});
