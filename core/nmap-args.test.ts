import { describe, expect, it } from 'vitest';
import { PlumError } from './errors.ts';
import { parseNmapArgs } from './nmap-args.ts';

/** parseNmapArgs refuses the text with one line matching `re`, as an unsafe argument. */
function expectRefused(text: string, re: RegExp): void {
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
}

describe('parseNmapArgs', () => {
  it('accepts timing, retry, rate, version and script-argument options', () => {
    expect(parseNmapArgs('')).toEqual([]);
    expect(parseNmapArgs('  -T4 --max-retries 1  --min-rate=100 -sV --version-intensity 2 -n --open ')).toEqual([
      '-T4',
      '--max-retries',
      '1',
      '--min-rate=100',
      '-sV',
      '--version-intensity',
      '2',
      '-n',
      '--open',
    ]);
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
  it.each(refused)('refuses %j', (text, re) => expectRefused(text, re));
});

describe('--script-args allowlist (rules/nmap/script-args.yaml)', () => {
  const refused: Array<[string, RegExp]> = [
    // Issue #31: these made a run scan addresses outside the perimeter and send a local file's lines away.
    ['--script-args newtargets,targets-xml.iX=/tmp/hosts.xml', /"--script-args newtargets": adds scan targets/],
    ['--script-args targets-xml.iX=/tmp/hosts.xml', /adds scan targets/],
    ['--script-args=max-newtargets=5', /adds scan targets/],
    ['--script-args targets-sniffer.timeout=5', /adds scan targets/],
    ['--script-args oraclesids=/etc/passwd', /"--script-args oraclesids": names a file/],
    ['--script-args userdb=/etc/passwd', /names a file/],
    ['--script-args brute.credfile=x', /names a file/],
    ['--script-args http-fetch.destination=/tmp', /names a file/],
    ['--script-args ssh-hostkey.known-hosts=/root/.ssh/known_hosts', /names a file/],
    ['--script-args smbusername=admin', /not an allowed script argument/],
    ['--script-args http.useragent', /needs a value/],
    ['--script-args plum-banner.max=0', /needs a whole number 1-65536/],
    ['--script-args ssh_hostkey=md5', /needs one of bubble/],
    ['--script-args http-title.url=http://192.0.2.1/', /needs a url-path/],
    ['--script-args http-title.url=/../etc', /needs a url-path/],
    ['--script-args {newtargets}', /shell metacharacter|characters outside/],
    ['--script-args', /needs a value/],
  ];
  it.each(refused)('refuses %j', (text, re) => expectRefused(text, re));

  it('accepts listed arguments with values of their type', () => {
    expect(parseNmapArgs('--script-args http.useragent=Mozilla/5.0,http-title.url=/login,ssh_hostkey=sha256,tls.servername=www.example.org')).toEqual([
      '--script-args',
      'http.useragent=Mozilla/5.0,http-title.url=/login,ssh_hostkey=sha256,tls.servername=www.example.org',
    ]);
  });

  it('refuses --dns-servers, which sends lookups to any server', () => {
    expect(() => parseNmapArgs('--dns-servers 127.0.0.53')).toThrow(/sends DNS lookups/);
    expect(() => parseNmapArgs('-dns-servers=127.0.0.53')).toThrow(/sends DNS lookups/);
  });
});
