import { describe, expect, it } from 'vitest';
import { PlumError } from './errors.ts';
import { parseNmapArgs } from './nmap-args.ts';

describe('parseNmapArgs', () => {
  it('accepts timing, retry, rate, version and script-argument options', () => {
    expect(parseNmapArgs('')).toEqual([]);
    expect(parseNmapArgs('  -T4 --max-retries 1  --min-rate=100 -sV --version-intensity 2 -n --open ')).toEqual(
      ['-T4', '--max-retries', '1', '--min-rate=100', '-sV', '--version-intensity', '2', '-n', '--open'],
    );
    expect(parseNmapArgs('--script-args http.useragent=Mozilla/5.0,http.max-cache-size=1000 -e lo --host-timeout 2m')).toHaveLength(6);
    expect(parseNmapArgs('--script-args plum-banner.timeout=2')).toHaveLength(2);
  });

  const refused: Array<[string, RegExp]> = [
    ['-T4; rm -rf /', /shell metacharacter ";"/],
    ['-T4 $(id)', /shell metacharacter "\$"/],
    ['--max-retries 1\n-oX /tmp/x', /control characters and newlines/],
    ['-oX /tmp/out.xml', /writes or controls output files/],
    ['-oN=/tmp/out', /writes or controls output files/],
    ['-iL /etc/hosts', /chooses targets/],
    ['-iR 100', /chooses targets/],
    ['--excludefile x', /chooses targets/],
    ['--script vuln', /chooses scripts/],
    ['-script=vuln', /chooses scripts/],
    ['-sC', /chooses scripts/],
    ['-A', /chooses scripts/],
    ['-p 1-65535', /chooses ports/],
    ['--top-ports 100', /chooses ports/],
    ['--datadir /tmp', /reads files/],
    ['-datadir /tmp', /reads files/],
    ['--script-args-file /etc/passwd', /reads files/],
    ['--resume /tmp/x', /output files|reads files/],
    ['8.8.8.8', /a bare word would be scanned as a target/],
    ['-T4 example.org', /a bare word/],
    ['--script-args userdb=/etc/passwd', /invalid value/],
    ['--script-args brute.credfile=x', /invalid value/],
    ['--script-args http-fetch.destination=/tmp', /invalid value/],
    ['--max-retries lots', /invalid value "lots"/],
    ['--max-retries', /needs a value/],
    ['-sU', /changes the scan type/],
    ['-sL', /changes the scan type/],
    ['-6', /chosen by Plum/],
    ['--proxies socks4://127.0.0.1:1080', /reads files or redirects traffic/],
    ['-D RND:10', /spoofs/],
    ['--interactive', /not an allowed option/],
    ['--open=yes', /takes no value/],
    ['-e -iR', /needs a value, not the option "-iR"/],
    ['-oX-', /output files|not an allowed option/],
    ['-nPn', /not an allowed option/],
  ];
  it.each(refused)('refuses %j', (text, re) => {
    let err: unknown;
    try {
      parseNmapArgs(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PlumError);
    expect((err as PlumError).code).toBe('unsafe_argument');
    expect((err as PlumError).message).toMatch(re);
    expect((err as PlumError).oneLine()).not.toContain('\n');
  });
});
