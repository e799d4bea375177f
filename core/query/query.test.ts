import { describe, expect, it } from 'vitest';
import { emptySearchFields, SEARCH_FIELD_NAMES, type SearchFields } from '../fields.ts';
import { PlumError } from '../errors.ts';
import { FIELD_REGISTRY, matchFields, matchHost, parseQuery, queryToString, type MatchDoc, type QueryNode } from './index.ts';

function doc(partial: Partial<SearchFields>, extra: Partial<MatchDoc> = {}): MatchDoc {
  return { fields: { ...emptySearchFields(), ...partial }, tags: [], ...extra };
}

function syntaxPos(q: string): { message: string; position: number } {
  try {
    parseQuery(q);
  } catch (e) {
    expect(e).toBeInstanceOf(PlumError);
    const err = e as PlumError;
    expect(err.code).toBe('syntax');
    expect(err.exitCode).toBe(2);
    return { message: err.message, position: err.details!.position as number };
  }
  throw new Error(`expected a syntax error for ${q}`);
}

const strip = (n: QueryNode): unknown => JSON.parse(JSON.stringify(n, (k, v) => (k === 'position' || k === 'end' ? undefined : v)));

describe('field registry', () => {
  it('covers every SearchFields name plus the extra fields', () => {
    for (const name of SEARCH_FIELD_NAMES) expect(FIELD_REGISTRY.has(name)).toBe(true);
    for (const name of ['net', 'tag', 'since', 'before', 'after', 'score', 'first_seen', 'last_seen']) {
      expect(FIELD_REGISTRY.has(name)).toBe(true);
    }
    expect(FIELD_REGISTRY.get('port')!.type).toBe('integer');
    expect(FIELD_REGISTRY.get('net')!.type).toBe('cidr');
    expect(FIELD_REGISTRY.get('http_favicon_md5')!.type).toBe('prefix');
    expect(FIELD_REGISTRY.get('protocol')!.type).toBe('exact');
    expect(FIELD_REGISTRY.get('since')!.type).toBe('date');
    expect(FIELD_REGISTRY.get('http_title')!.type).toBe('substring');
  });
});

describe('parseQuery', () => {
  it('reads the predecessor examples', () => {
    expect(queryToString(parseQuery('domain.begin:circl.lu port:443 http_server.lk:nginx'))).toBe('domain.bg:circl.lu AND port:443 AND http_server.lk:nginx');
    expect(queryToString(parseQuery('http_favicon_mmhash:747250914 AND http_title.bg:Vault'))).toBe('http_favicon_mmhash:747250914 AND http_title.bg:vault');
    expect(queryToString(parseQuery('net:146.0.176.0/20 port:22 since:7'))).toBe('net:146.0.176.0/20 AND port:22 AND since:168h');
    expect(queryToString(parseQuery('banner.bg:ssh-2.0-openssh AND banner.lk:debian OR banner.bg:"+OK Dovecot"'))).toBe(
      'banner.bg:ssh-2.0-openssh AND banner.lk:debian OR banner.bg:"+ok dovecot"',
    );
  });

  it('gives NOT > AND > OR precedence, and parentheses override it', () => {
    const t = parseQuery('port:1 OR NOT port:2 port:3');
    expect(t.type).toBe('or');
    expect(queryToString(t)).toBe('port:1 OR NOT port:2 AND port:3');
    expect(queryToString(parseQuery('(port:1 OR port:2) AND NOT (tag:a OR tag:b)'))).toBe('(port:1 OR port:2) AND NOT (tag:a OR tag:b)');
    expect(queryToString(parseQuery('port:1 and port:2 or port:3'))).toBe('port:1 AND port:2 OR port:3');
  });

  it('round-trips through its canonical text', () => {
    for (const q of [
      'http_title.lk:"index of" (port:80,8080 OR NOT tag.bg:vuln:) score>=60',
      'http_headval:server.lk:nginx AND http_headval:X-Powered-By:"PHP/7.4"',
      'ip:10.1.2.0/24 last_seen<2024-01-31 first_seen:2023-12-01T10:00:00Z',
    ]) {
      const t = parseQuery(q);
      expect(strip(parseQuery(queryToString(t)))).toEqual(strip(t));
    }
  });

  it('handles shell quoting, case-insensitive names and comma lists', () => {
    const t = parseQuery(`HTTP_Title.LK:'Index "of"' port:80,443 banner:a\\ b x509_san:"a,b"`);
    expect(strip(t)).toEqual({
      type: 'and',
      children: [
        { type: 'term', field: 'http_title', mode: 'substring', op: 'eq', values: ['index "of"'] },
        { type: 'term', field: 'port', mode: 'exact', op: 'eq', values: ['80', '443'] },
        { type: 'term', field: 'banner', mode: 'exact', op: 'eq', values: ['a b'] },
        { type: 'term', field: 'x509_san', mode: 'exact', op: 'eq', values: ['a,b'] },
      ],
    });
  });

  it('reads .not/.nt as negation and the header form of http_headval', () => {
    expect(strip(parseQuery('http_title.not:x'))).toEqual({
      type: 'not',
      child: { type: 'term', field: 'http_title', mode: 'exact', op: 'eq', values: ['x'] },
    });
    expect(strip(parseQuery('http_headval:Server.bg:Apache'))).toEqual({
      type: 'term',
      field: 'http_headval',
      mode: 'prefix',
      op: 'eq',
      values: ['apache'],
      header: 'server',
    });
    expect(strip(parseQuery('tag.nt.bg:vendor:'))).toMatchObject({ type: 'not', child: { field: 'tag', mode: 'prefix', values: ['vendor:'] } });
  });

  it('normalises addresses, integers and dates', () => {
    expect(strip(parseQuery('net:10.1.2.3/16'))).toMatchObject({ values: ['10.1.0.0/16'] });
    expect(strip(parseQuery('net:10.1.2.3'))).toMatchObject({ values: ['10.1.2.3/32'] });
    expect(strip(parseQuery('ip:2001:DB8::1'))).toMatchObject({ values: ['2001:db8::1'] });
    expect(strip(parseQuery('score:>=60'))).toMatchObject({ field: 'score', op: 'gte', values: ['60'] });
    expect(strip(parseQuery('port:0080'))).toMatchObject({ values: ['80'] });
    expect(strip(parseQuery('since:2w'))).toMatchObject({ values: ['336h'] });
  });

  it('names the position of syntax errors', () => {
    expect(syntaxPos('port:22 (tag:a')).toMatchObject({ position: 8, message: expect.stringContaining('unclosed parenthesis') });
    expect(syntaxPos('port:22 tag:a)').position).toBe(13);
    expect(syntaxPos('port:22 http_title:"abc').position).toBe(19);
    expect(syntaxPos('port:22 AND').position).toBe(11);
    expect(syntaxPos('port:22 OR OR port:1').position).toBe(11);
    expect(syntaxPos('port:22 foo').message).toContain("expected field:value, got 'foo'");
    expect(syntaxPos('port:22 net:300.1.1.1/8').position).toBe(12);
    expect(syntaxPos('port:99999').position).toBe(5);
    expect(syntaxPos('port:80,,443').position).toBe(8);
    expect(syntaxPos('').position).toBe(0);
    expect(syntaxPos('()').position).toBe(0);
    expect(syntaxPos('http_title>3').message).toContain('does not take comparisons');
    expect(syntaxPos('port.lk:80').message).toContain('does not take .lk');
    expect(syntaxPos('http_favicon_md5.lk:ab').message).toContain('does not take .lk');
    expect(syntaxPos('protocol.bg:t').message).toContain('does not take .bg');
    expect(syntaxPos('http_title.xx:a').message).toContain("unknown modifier '.xx'");
    expect(syntaxPos('http_headval:server').message).toContain('<header>:<value>');
    expect(syntaxPos('last_seen:yesterday').message).toContain('not a date');
  });

  it('lists the valid fields when a field is unknown', () => {
    try {
      parseQuery('port:1 htp_title:x');
      expect.unreachable();
    } catch (e) {
      const err = e as PlumError;
      expect(err.code).toBe('syntax');
      expect(err.details!.position).toBe(7);
      expect(err.message).toContain("unknown field 'htp_title'");
      expect(err.hint).toContain('http_title');
      expect(err.hint).toContain('net');
    }
  });

  it('refuses absurd nesting with a syntax error rather than a stack overflow', () => {
    expect(syntaxPos(`${'('.repeat(200)}port:1${')'.repeat(200)}`).message).toContain('nested too deeply');
    expect(syntaxPos(`${'NOT '.repeat(200)}port:1`).message).toContain('nested too deeply');
  });
});

describe('matchFields', () => {
  const web = doc(
    {
      ip: ['192.0.2.10'],
      port: ['443'],
      protocol: ['tcp'],
      http_title: ['Index of /backup'],
      http_server: ['nginx/1.18.0 (Ubuntu)'],
      http_headval: ['server: nginx/1.18.0 (Ubuntu)', 'x-powered-by: PHP/7.4.3'],
      http_header: ['server', 'x-powered-by'],
      x509_san: ['www.Example.org', 'example.org'],
      domain: ['example.org'],
      x509_key_bits: ['1024'],
    },
    { tags: ['vuln:opendir', 'product:nginx'], score: 72, firstSeen: '2024-01-10T08:00:00Z', lastSeen: '2024-03-01T12:00:00Z' },
  );
  const m = (q: string, d: MatchDoc = web, now = new Date('2024-03-05T00:00:00Z')) => matchFields(parseQuery(q), d, now);

  it('matches text case-insensitively with exact, prefix and substring modes', () => {
    expect(m('http_title:"index of /backup"')).toBe(true);
    expect(m('http_title:"index of"')).toBe(false);
    expect(m('http_title.bg:"INDEX OF"')).toBe(true);
    expect(m('http_title.lk:backup')).toBe(true);
    expect(m('x509_san:www.example.org')).toBe(true);
    expect(m('x509_san.lk:nomatch')).toBe(false);
  });

  it('ANDs ip and net, makes .not work, and honours precedence', () => {
    expect(m('ip:192.0.2.10 net:192.0.2.0/24')).toBe(true);
    expect(m('ip:192.0.2.10 net:10.0.0.0/8')).toBe(false);
    expect(m('ip:192.0.2.0/24')).toBe(true);
    expect(m('http_title.not:x')).toBe(true);
    expect(m('http_title.lk.not:backup')).toBe(false);
    expect(m('port:22 OR port:443 http_title.lk:backup')).toBe(true);
    expect(m('(port:22 OR port:443) AND NOT tag:vuln:opendir')).toBe(false);
    expect(m('port:22,443')).toBe(true);
  });

  it('scopes http_headval to one header', () => {
    expect(m('http_headval:server.lk:nginx')).toBe(true);
    expect(m('http_headval:x-powered-by.lk:nginx')).toBe(false);
    expect(m('http_headval:x-powered-by.bg:php/7')).toBe(true);
    expect(m('http_headval:X-Powered-By:php/7.4.3')).toBe(true);
    expect(m('http_headval:x-powered:php/7.4.3')).toBe(false);
  });

  it('compares integers, scores and dates', () => {
    expect(m('score>=60')).toBe(true);
    expect(m('score>72')).toBe(false);
    expect(m('score:72')).toBe(true);
    expect(m('score>=1', doc({}))).toBe(false);
    expect(m('port>=1024')).toBe(false);
    expect(m('port<1024')).toBe(true);
    expect(m('x509_key_bits<2048')).toBe(true);
    expect(m('since:7')).toBe(true);
    expect(m('since:3')).toBe(false);
    expect(m('since:4d')).toBe(true);
    expect(m('after:2024-03-01')).toBe(true);
    expect(m('after:2024-03-02')).toBe(false);
    expect(m('before:2024-01-10')).toBe(false);
    expect(m('before:2024-01-11')).toBe(true);
    expect(m('first_seen:2024-01-10')).toBe(true);
    expect(m('first_seen>2024-01-10')).toBe(false);
    expect(m('first_seen<=2024-01-10')).toBe(true);
    expect(m('last_seen>2024-02-29')).toBe(true);
  });

  it('matches tags exactly or by prefix', () => {
    expect(m('tag:vuln:opendir')).toBe(true);
    expect(m('tag:VULN:OPENDIR')).toBe(true);
    expect(m('http_title.lk:ÉCOLE', doc({ http_title: ["Bienvenue à l'école"] }))).toBe(true);
    expect(m('tag:vuln')).toBe(false);
    expect(m('tag.bg:vuln:')).toBe(true);
    expect(m('tag.lk:nginx')).toBe(true);
  });

  it('matches one port document per group, or the whole host in host mode', () => {
    const ssh = doc({ ip: ['192.0.2.10'], port: ['22'], banner: ['SSH-2.0-OpenSSH_8.4p1 Debian-5'] });
    const q = parseQuery('port:22 http_title.lk:backup');
    expect(matchFields(q, ssh)).toBe(false);
    expect(matchFields(q, web)).toBe(false);
    expect(matchHost(q, [ssh, web])).toBe(true);
    expect(matchHost(parseQuery('port:22 NOT tag:vuln:opendir'), [ssh, web])).toBe(false);
    expect(matchHost(parseQuery('port:22 NOT tag:vuln:opendir'), [ssh])).toBe(true);
  });
});
