import { describe, expect, it } from 'vitest';
import { PlumError } from '../errors.ts';
import { buildMasscanArgs, masscanJsonOf, masscanNdjsonOf, parseMasscanDiscovery, parseMasscanStatus, type MasscanSettings } from './args.ts';
import { readMasscanOutput } from './result.ts';

const settings: MasscanSettings = { maxRate: 10_000, interface: 'pls1', routerMac: '02:AA:bb:cc:dd:ee', sourceIp: '198.18.160.100' };
const job = { targets: ['198.18.160.10', '198.18.160.0/28', '198.18.161.5-9'], tcpPorts: '80,22,443', options: { rate: 500 } };

const refused = (fn: () => unknown, message: RegExp) => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PlumError);
    expect((e as PlumError).code).toBe('usage');
    expect((e as PlumError).message).toMatch(message);
    return;
  }
  throw new Error('not refused');
};

describe('buildMasscanArgs', () => {
  it('builds the allowed options in a fixed order, targets as masscan reads them, last', () => {
    expect(buildMasscanArgs(job, '/tmp/x/scan.xml', settings)).toEqual([
      '-p',
      '22,80,443',
      '--rate',
      '500',
      '--wait',
      '5',
      '--interface',
      'pls1',
      '--router-mac',
      '02:aa:bb:cc:dd:ee',
      '--source-ip',
      '198.18.160.100',
      '-oX',
      '/tmp/x/scan.xml',
      '--interactive',
      '198.18.160.10',
      '198.18.160.0/28',
      '198.18.161.5-198.18.161.9',
    ]);
  });

  it('leaves the network settings to masscan when none are configured; UDP ports are prefixed, -oJ on request', () => {
    expect(
      buildMasscanArgs({ targets: ['127.0.0.1'], tcpPorts: '22', udpPorts: '53,161-162', options: { wait: 0 } }, '/o.json', { maxRate: 100 }, 'json'),
    ).toEqual(['-p', '22,U:53,U:161-162', '--rate', '100', '--wait', '0', '-oJ', '/o.json', '--interactive', '127.0.0.1']);
  });

  it.each([
    ['a name', { targets: ['example.org'] }, /masscan scans addresses, not names/],
    ['an option-looking target', { targets: ['--echo'] }, /cannot look like command-line options|starts with "-"/],
    ['no targets', { targets: [] }, /no targets/],
    ['a rate above the maximum', { options: { rate: 10_001 } }, /above this scanner's maximum of 10000/],
    ['a rate of zero', { options: { rate: 0 } }, /rate 0 is not a whole number/],
    ['a fractional rate', { options: { rate: 1.5 } }, /rate 1.5/],
    ['an option outside the allowlist', { options: { rate: 10, 'adapter-ip': '1.2.3.4' } }, /option "adapter-ip" is not allowed/],
    ['a wait too long', { options: { wait: 3600 } }, /wait 3600/],
    ['bad ports', { tcpPorts: '22,-p1' }, /invalid TCP ports/],
    ['no ports', { tcpPorts: '' }, /no ports/],
    ['pairs', { pairs: [{ ip: '198.18.160.10', protocol: 'tcp' as const, port: 22 }] }, /not \(address, port\) pairs/],
  ])('refuses %s', (_what, change, message) => {
    refused(() => buildMasscanArgs({ ...job, ...change } as typeof job, '/tmp/o.xml', settings), message);
  });

  it.each([
    ['interface', { interface: '-eth0' }, /not a network interface name/],
    ['interface', { interface: 'eth0 --echo' }, /not a network interface name/],
    ['router MAC', { routerMac: 'ff:ff' }, /not a MAC address/],
    ['source address', { sourceIp: '--adapter-ip' }, /not an IP address/],
    ['output path', {}, /not a file path/],
  ])('refuses a bad %s setting', (what, change, message) => {
    refused(() => buildMasscanArgs(job, what === 'output path' ? '-oG' : '/tmp/o.xml', { ...settings, ...change }), message);
  });
});

describe('parseMasscanStatus', () => {
  it.each([
    ['rate:  1.99-kpps, 45.20% done,   0:01:02 remaining, found=2       ', { phase: 'masscan', percent: 45.2, etaSeconds: 62 }],
    ['rate:  0.00-kpps, 100.00% done, waiting 3-secs, found=4       ', { phase: 'masscan waiting', percent: 100, etaSeconds: 3 }],
    // Past its wait: masscan counts below zero while its receive thread fails to end.
    ['rate:  0.00-kpps, 100.00% done, waiting -1-secs, found=4', { phase: 'masscan waiting', percent: 100, etaSeconds: 0, overdueSeconds: 1 }],
    ['rate:  0.00-kpps, 100.00% done, waiting -198-secs, found=1       ', { phase: 'masscan waiting', percent: 100, etaSeconds: 0, overdueSeconds: 198 }],
    ['rate:  0.00-kpps, 100.00% done, waiting 0-secs, found=1', { phase: 'masscan waiting', percent: 100, etaSeconds: 0 }],
    // The first line, before a rate is measured, has no usable estimate.
    ['rate:  0.00-kpps,  0.13% done,77066:25:35 remaining, found=0', { phase: 'masscan', percent: 0.13 }],
  ])('reads %j', (line, expected) => {
    expect(parseMasscanStatus(line)).toEqual(expected);
  });

  it.each(['Starting masscan 1.3.2 (http://bit.ly/14GZzcT) at 2026-12-06 16:30:04 GMT', 'Scanning 256 hosts [3 ports/host]', ''])('ignores %j', (line) => {
    expect(parseMasscanStatus(line)).toBeNull();
  });
});

describe('masscanJsonOf: what a hung sweep found, as a finished -oJ document', () => {
  it('reads back as a finished sweep with every discovery', () => {
    const found = [
      { ip: '198.18.0.3', protocol: 'tcp', port: 22, time: 1796564777 },
      { ip: '198.18.0.2', protocol: 'tcp', port: 80, time: 1796564778 },
    ];
    const read = readMasscanOutput(Buffer.from(masscanJsonOf(found)));
    expect(read.finished).toBe(true);
    expect(read.error).toBeUndefined();
    expect(read.hosts.map((h) => [h.ip, h.ports.map((p) => p.port)]).sort()).toEqual([
      ['198.18.0.2', [80]],
      ['198.18.0.3', [22]],
    ]);
    expect(readMasscanOutput(Buffer.from(masscanJsonOf([]))).finished).toBe(true);
  });
});

describe('readMasscanOutput', () => {
  const xml = [
    '<?xml version="1.0"?>',
    '<!-- masscan v1.0 scan -->',
    '<nmaprun scanner="masscan" start="1796574604" version="1.0-BETA"  xmloutputversion="1.03">',
    '<scaninfo type="syn" protocol="tcp" />',
    '<host endtime="1796574604"><address addr="198.18.170.10" addrtype="ipv4"/><ports><port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"/></port></ports></host>',
    '<host endtime="1796574605"><address addr="198.18.170.11" addrtype="ipv4"/><ports><port protocol="tcp" portid="80"><state state="open" reason="syn-ack" reason_ttl="64"/></port></ports></host>',
    '<host endtime="1796574605"><address addr="198.18.170.10" addrtype="ipv4"/><ports><port protocol="tcp" portid="80"><state state="open" reason="syn-ack" reason_ttl="64"/></port></ports></host>',
  ];
  const end = [
    '<runstats>',
    '<finished time="1796574608" timestr="2026-12-06 16:30:08" elapsed="4" />',
    '<hosts up="3" down="0" total="3" />',
    '</runstats>',
    '</nmaprun>',
  ];

  it('merges the lines of one address into one host in the masscan view', () => {
    const r = readMasscanOutput(Buffer.from([...xml, ...end].join('\n')));
    expect(r.view).toBe('masscan');
    expect(r.finished).toBe(true);
    expect(r.error).toBeUndefined();
    expect(r.hosts.map((h) => [h.ip, h.ports.map((p) => p.port)])).toEqual([
      ['198.18.170.10', [22, 80]],
      ['198.18.170.11', [80]],
    ]);
    expect(r.hosts[0]!.ports[0]!.hsh256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('an interrupted scan is not finished and keeps what came before a cut line', () => {
    const r = readMasscanOutput(Buffer.from([...xml, '<host endtime="1796574605"><address addr="198.18'].join('\n')));
    expect(r.finished).toBe(false);
    expect(r.error).toMatch(/line 8/);
    expect(r.hosts.map((h) => h.ip)).toEqual(['198.18.170.10', '198.18.170.11']);
  });

  it('an empty output (nothing answered) is a finished scan of no host', () => {
    expect(readMasscanOutput(Buffer.alloc(0))).toEqual({ view: 'masscan', finished: true, hosts: [] });
  });
});

describe('what masscan prints as it finds ports (--interactive)', () => {
  it.each([
    [
      'Discovered open port 22/tcp on 198.18.160.10                                   ',
      { ip: '198.18.160.10', protocol: 'tcp', port: 22, time: 1_700_000_000 },
    ],
    ['Discovered open port 53/udp on 198.18.160.11', { ip: '198.18.160.11', protocol: 'udp', port: 53, time: 1_700_000_000 }],
    ['Discovered open port 80/tcp on 2001:db8::1', { ip: '2001:db8::1', protocol: 'tcp', port: 80, time: 1_700_000_000 }],
    ['Discovered open port 70000/tcp on 198.18.160.10', null],
    ['Discovered open port 22/tcp on not-an-address', null],
    ['Banner on port 80/tcp on 198.18.160.10: [title] x', null],
    ['rate:  0.30-kpps, 11.75% done,   0:00:47 remaining, found=0', null],
  ])('%j', (line, expected) => {
    expect(parseMasscanDiscovery(line, 1_700_000_000)).toEqual(expected);
  });

  it('writes them as -oD lines that the reader of masscan files reads back, unfinished', () => {
    const found = [
      'Discovered open port 22/tcp on 198.18.160.10',
      'Discovered open port 80/tcp on 198.18.160.10',
      'Discovered open port 53/udp on 198.18.160.11',
    ].map((l) => parseMasscanDiscovery(l, 1_700_000_000)!);
    const result = readMasscanOutput(Buffer.from(masscanNdjsonOf(found)));
    expect(result.error).toBeUndefined();
    expect(result.finished).toBe(false);
    expect(result.startedAt).toBe('2023-11-14T22:13:20.000Z');
    expect(result.hosts.map((h) => [h.ip, h.ports.map((p) => `${p.protocol}/${p.port}:${p.state}`)])).toEqual([
      ['198.18.160.10', ['tcp/22:open', 'tcp/80:open']],
      ['198.18.160.11', ['udp/53:open']],
    ]);
  });
});
