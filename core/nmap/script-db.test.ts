import { describe, expect, it } from 'vitest';
import { enforceScriptPolicy } from '../profiles.ts';
import { installedScriptDb, judgeScripts, parseScriptDb } from './script-db.ts';

describe('script.db parsing', () => {
  it('maps each entry to its categories', () => {
    const db = parseScriptDb(
      [
        'Entry { filename = "afp-brute.nse", categories = { "brute", "intrusive", } }',
        'Entry { filename = "http-title.nse", categories = { "default", "discovery", "safe", } }',
        'garbage',
      ].join('\n'),
    );
    expect([...db.entries()]).toEqual([
      ['afp-brute', ['brute', 'intrusive']],
      ['http-title', ['default', 'discovery', 'safe']],
    ]);
    expect(() => parseScriptDb('nothing here')).toThrow(/no script entries/);
  });

  it("reads the installed nmap's catalogue", () => {
    const db = installedScriptDb();
    expect(db.size).toBeGreaterThan(500);
    expect(db.get('whois-ip')).toContain('external');
  });
});

describe('script policy (installed script.db)', () => {
  // Issue #31: each of these was accepted in a profile.
  const refused: Array<[string, RegExp]> = [
    ['broadcast-dhcp-discover', /broadcast/],
    ['whois-ip', /external/],
    ['asn-query', /external/],
    ['hostmap-crtsh', /external/],
    ['ip-geolocation-geoplugin', /external/],
    ['targets-traceroute', /discovers targets/],
    ['targets-xml', /discovers targets/],
    ['http-slowloris', /dos/],
    ['smb-flood', /dos/],
    ['ftp-brute', /brute/],
    ['ftp-vsftpd-backdoor', /exploit/],
  ];
  it.each(refused)('refuses %s unless allowed by name', (name, re) => {
    const verdict = judgeScripts([name], installedScriptDb());
    expect(verdict).toMatchObject({ ok: false, script: name, unknown: false });
    expect(verdict.ok === false && verdict.reason).toMatch(re);
    expect(() => enforceScriptPolicy(['http-title', name])).toThrow(new RegExp(`refused NSE script "${name}"`));
    expect(judgeScripts([name], installedScriptDb(), [name])).toEqual({ ok: true });
  });

  it('accepts safe stock scripts and the project scripts', () => {
    expect(() => enforceScriptPolicy(['http-title', 'ssl-cert', 'http-headers', 'plum-banner', 'plum-favicon'])).not.toThrow();
  });

  it('refuses unknown names with one line', () => {
    let err: unknown;
    try {
      enforceScriptPolicy(['http-titel']);
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toBe('unknown NSE script "http-titel": it is not a script of the installed nmap');
  });
});
