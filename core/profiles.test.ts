import { describe, expect, it } from 'vitest';
import {
  BANNER_PROFILE,
  WEB_PROFILE,
  countPorts,
  cycleMs,
  nextDue,
  parseCycle,
  parsePortList,
  parseProfile,
  parseScriptList,
  selectsTarget,
} from './profiles.ts';

describe('ports', () => {
  it('sorts and merges port lists and ranges', () => {
    expect(parsePortList('443, 80,22,8000-8010,8005-8020,81')).toEqual([
      { from: 22, to: 22 },
      { from: 80, to: 81 },
      { from: 443, to: 443 },
      { from: 8000, to: 8020 },
    ]);
    expect(countPorts('1-1024,8080')).toBe(1025);
  });
  it.each([['0'], ['70000'], ['80-22'], ['http'], [''], ['1,,2']])('refuses %j', (p) => {
    expect(() => parsePortList(p)).toThrow(/port/);
  });
});

describe('cycles', () => {
  it('parses durations and cron expressions', () => {
    expect(parseCycle('12h')).toEqual({ kind: 'interval', ms: 12 * 3600_000, text: '12h' });
    expect(parseCycle('7D')).toMatchObject({ kind: 'interval', ms: 7 * 86400_000, text: '7d' });
    expect(parseCycle('0 3 * * *')).toMatchObject({ kind: 'cron', expression: '0 3 * * *' });
    expect(() => parseCycle('1m')).toThrow(/shorter than 5 minutes/);
    expect(() => parseCycle('soon')).toThrow(/invalid cycle/);
    expect(() => parseCycle('99 3 * * *')).toThrow(/invalid cron expression/);
  });
  it('computes the next due time', () => {
    const now = new Date('2026-01-01T10:00:00Z');
    expect(nextDue('12h', null, now)).toEqual(now);
    expect(nextDue('12h', new Date('2026-01-01T01:00:00Z'), now).toISOString()).toBe('2026-01-01T13:00:00.000Z');
    expect(nextDue('0 3 * * *', new Date('2026-01-01T03:00:00Z'), now).toISOString()).toBe('2026-01-02T03:00:00.000Z');
    expect(cycleMs('0 */6 * * *', now)).toBe(6 * 3600_000);
  });
});

describe('parseProfile', () => {
  it('normalises every field and applies defaults', () => {
    const p = parseProfile({ name: 'Web-Admin', tcpPorts: '8443,80', scripts: 'http-title, plum-favicon.nse', nmapArgs: '-T4' });
    expect(p).toEqual({
      name: 'web-admin',
      tcpPorts: '80,8443',
      udpPorts: undefined,
      scripts: ['http-title', 'plum-favicon'],
      allowScripts: [],
      nmapArgs: ['-T4'],
      every: '12h',
      priority: 2,
      targets: 'all',
      hostTimeout: '40s',
      scanner: 'nmap',
      scouting: null,
    });
    expect(parseProfile({ name: 'wide', tcpPorts: '22,80', scouting: { rate: '5000' } as never }).scouting).toEqual({ rate: 5000 });
    expect(parseProfile({ name: 'dns', tcpPorts: '53', udpPorts: '53', priority: '4', targets: 'label:DMZ', every: '0 3 * * *' })).toMatchObject({
      udpPorts: '53',
      priority: 4,
      targets: 'label:dmz',
      every: '0 3 * * *',
    });
  });

  it.each([
    [{ name: 'x', tcpPorts: '99999' }, /invalid profile tcpPorts: port 99999 out of range/],
    [{ name: 'x', tcpPorts: '80', priority: 7 }, /invalid profile priority: priority goes from 0 to 4/],
    [{ name: 'x', tcpPorts: '80', nmapArgs: '-oX /tmp/x' }, /invalid profile nmapArgs: refused nmap argument "-oX"/],
    [{ name: 'x', tcpPorts: '80', scripts: '../../etc/passwd' }, /invalid profile scripts: invalid NSE script name/],
    [{ name: 'x', tcpPorts: '80', scripts: 'plum-nope' }, /unknown project script/],
    [{ name: 'x', tcpPorts: '80', scripts: 'http-title,vuln' }, /"vuln" is an nmap script category/],
    [{ name: 'x', tcpPorts: '80', targets: 'some' }, /invalid profile targets/],
    [{ name: 'x', tcpPorts: '80', every: 'often' }, /invalid profile every/],
    [{ name: 'x', tcpPorts: '80', hostTimeout: 'forever' }, /invalid profile hostTimeout/],
    [{ name: 'bad name', tcpPorts: '80' }, /invalid profile name/],
    [{ name: 'x', tcpPorts: '443', scanner: 'zmap' }, /invalid profile scanner: unknown scanner "zmap"/],
    [{ name: 'x', tcpPorts: '443', scanner: 'sslscan', scripts: 'ssl-cert' }, /^invalid profile scripts: a TLS profile \(scanner sslscan\) takes no scripts$/],
    [{ name: 'x', tcpPorts: '443', scanner: 'sslscan', nmapArgs: '-T4' }, /^invalid profile nmapArgs: a TLS profile \(scanner sslscan\) takes no nmapArgs$/],
    [{ name: 'x', tcpPorts: '443', scanner: 'sslscan', udpPorts: '443' }, /takes no udpPorts/],
    [{ name: 'x', tcpPorts: '80', scouting: { rate: 0 } }, /invalid profile scouting.rate: the scouting rate is at least 1/],
    [{ name: 'x', tcpPorts: '80', scouting: { rate: 2.5 } }, /invalid profile scouting.rate: the scouting rate must be a whole number/],
    [{ name: 'x', tcpPorts: '80', scouting: { rate: 10, banners: true } }, /invalid profile scouting/],
    [{ name: 'x', tcpPorts: '80', udpPorts: '53', scouting: { rate: 10 } }, /a scouting profile scans TCP ports only/],
  ])('refuses %j', (input, re) => {
    expect(() => parseProfile(input as never)).toThrow(re);
  });

  it('a TLS profile: scanner sslscan, names given in any case', () => {
    expect(parseProfile({ name: 'tls', tcpPorts: '443,8443', scanner: ' SSLscan ' })).toMatchObject({ scanner: 'sslscan', scripts: [], nmapArgs: [] });
  });

  it('ships the banner and web profiles', () => {
    expect(BANNER_PROFILE).toMatchObject({ name: 'banner', tcpPorts: '22,80,443', scripts: ['plum-banner'] });
    expect(WEB_PROFILE).toMatchObject({ name: 'web', tcpPorts: '80,443,8080,8443' });
    expect(WEB_PROFILE.scripts).toEqual(expect.arrayContaining(['http-title', 'http-headers', 'plum-favicon', 'ssl-cert', 'http-server-header']));
    expect(parseScriptList(['a', 'a', 'b'])).toEqual(['a', 'b']);
    expect(selectsTarget('label:dmz', ['dmz'])).toBe(true);
    expect(selectsTarget('label:dmz', ['lan'])).toBe(false);
  });
});

describe('one validator per value, however it arrives (issue #31)', () => {
  it.each(['0', '0s', '500ms', '25h', 'forever'])('--host-timeout %s is refused as the profile field and in --nmap-args', (v) => {
    expect(() => parseProfile({ name: 'x', tcpPorts: '80', hostTimeout: v })).toThrow(/invalid profile hostTimeout: invalid host timeout/);
    expect(() => parseProfile({ name: 'x', tcpPorts: '80', nmapArgs: `--host-timeout ${v}` })).toThrow(
      /invalid profile nmapArgs: refused nmap argument "--host-timeout/,
    );
    expect(() => parseProfile({ name: 'x', tcpPorts: '80', nmapArgs: `--host-timeout=${v}` })).toThrow(/refused nmap argument/);
  });

  it.each(['1s', '40s', '40', '5m', '24h'])('--host-timeout %s is accepted both ways', (v) => {
    expect(parseProfile({ name: 'x', tcpPorts: '80', hostTimeout: v, nmapArgs: `--host-timeout ${v}` }).hostTimeout).toBe(v);
  });

  it.each([
    ['* * * * * *', /has 6 fields/],
    ['*/1 * * * * *', /has 6 fields/],
    ['* * * * *', /fires 1 minute apart/],
    ['*/4 * * * *', /fires 4 minutes apart/],
    ['0,1 3 * * *', /fires 1 minute apart/],
    ['2,58 * * * *', /fires 4 minutes apart/],
    ['0 3 * * * 2026', /has 6 fields/],
  ])('cron %j is refused', (every, re) => {
    expect(() => parseCycle(every)).toThrow(re);
    expect(() => parseProfile({ name: 'x', tcpPorts: '80', every })).toThrow(re);
  });

  it.each(['*/5 * * * *', '0 3 * * *', '0 */6 * * 1-5', '0 0 1 * *'])('cron %j is accepted', (every) => {
    expect(parseCycle(every)).toMatchObject({ kind: 'cron', expression: every });
  });
});

describe('trigger profiles', () => {
  it('keep the query, with no ports, schedule or targets of their own', () => {
    const p = parseProfile({ name: 'ls', trigger: ' http_title.lk:"index of" ', scripts: 'http-ls' });
    expect(p).toMatchObject({ name: 'ls', trigger: 'http_title.lk:"index of"', tcpPorts: '', scripts: ['http-ls'] });
    expect(parseProfile({ name: 'x', tcpPorts: '80', trigger: '' }).trigger).toBeUndefined();
  });

  it('refuses a query the search parser refuses, in one line with its position', () => {
    expect(() => parseProfile({ name: 'ls', trigger: 'http_title.lk:"index of" AND (port:80' })).toThrow(
      /^invalid profile trigger: unclosed parenthesis at position 29$/,
    );
    expect(() => parseProfile({ name: 'ls', trigger: 'port:80 nosuchfield:x' })).toThrow(
      /^invalid profile trigger: unknown field 'nosuchfield' at position 8$/,
    );
  });

  it.each([
    [{ every: '1d' }, /invalid profile every: a trigger profile has no schedule/],
    [{ targets: 'label:dmz' }, /invalid profile targets: a trigger profile has no target selection/],
    [{ tcpPorts: '80' }, /invalid profile tcpPorts: a trigger profile has no ports/],
    [{ udpPorts: '53' }, /invalid profile udpPorts: a trigger profile has no ports/],
  ])('refuses %j beside a trigger', (extra, re) => {
    expect(() => parseProfile({ name: 'ls', trigger: 'port:80', ...extra })).toThrow(re);
  });

  it('still requires ports of a profile without a trigger', () => {
    expect(() => parseProfile({ name: 'x' })).toThrow(/^invalid profile tcpPorts: empty TCP ports list$/);
  });
});
