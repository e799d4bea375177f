import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { projectPath } from '../project-root.ts';
import { MasscanHosts, MASSCAN_BANNERS_VIEW, MASSCAN_VIEW } from './hosts.ts';
import { bannerText, detectMasscanFormat, masscanRecordsOfLine, type MasscanFormat } from './read.ts';

const FIXTURES = projectPath('test', 'fixtures', 'masscan');

/** Hosts of a fixture, as the importer builds them. */
function hostsOf(file: string) {
  const text = fs.readFileSync(`${FIXTURES}/${file}`, 'utf8');
  const format = detectMasscanFormat(text)!;
  const acc = new MasscanHosts();
  text.split('\n').forEach((line, i) => masscanRecordsOfLine(format, line, `${file}:${i + 1}`).forEach((r) => acc.add(r)));
  return { format, acc, hosts: [...acc.toHosts()] };
}

describe('masscan output (real files of one scan of two hosts, written with -oX, -oJ and -oD)', () => {
  it('recognises each format from its first bytes, and refuses what is not masscan', () => {
    expect(hostsOf('banners.xml').format).toBe('xml');
    expect(hostsOf('banners.json').format).toBe('json');
    expect(hostsOf('banners.ndjson').format).toBe('ndjson');
    expect(detectMasscanFormat('<?xml version="1.0"?>\n<nmaprun scanner="nmap" args="nmap -p 22">')).toBeUndefined();
    expect(detectMasscanFormat('hello')).toBeUndefined();
  });

  it("merges a port's status and banner lines into one port with its fields", () => {
    const { hosts, acc } = hostsOf('banners.ndjson');
    expect(hosts.map((h) => h.ip).sort()).toEqual(['198.18.0.2', '198.18.0.3']);
    expect(acc.banners).toBe(true);
    expect([...acc.toHosts(undefined, MASSCAN_VIEW)]).toEqual([]);
    expect([...acc.toHosts(undefined, MASSCAN_BANNERS_VIEW)]).toEqual(hosts);
    const h = hosts.find((x) => x.ip === '198.18.0.2')!;
    expect(h.ports.map((p) => p.port)).toEqual([22, 80, 8080]);
    const [ssh, web, listing] = h.ports;
    expect(ssh!.doc).toEqual({
      protocol: 'tcp',
      portid: '22',
      state: { state: 'open' },
      service: { name: 'ssh' },
      scripts: [{ id: 'masscan:ssh', output: 'SSH-2.0-OpenSSH_9.2p1 Debian-2' }],
    });
    expect(ssh!.fields.banner).toEqual(['SSH-2.0-OpenSSH_9.2p1 Debian-2']);
    expect(ssh!.fields.service_name).toEqual(['ssh']);
    expect(web!.fields.http_title).toEqual(['plum masscan test']);
    expect(web!.fields.http_server).toEqual(['BaseHTTP/0.6 Python/3.11.7', 'plum-test/1.0']);
    expect(web!.fields.service_name).toEqual(['http']);
    expect(web!.fields.banner).toEqual([]);
    expect(listing!.fields.http_title).toEqual(['Directory listing for /']);
    expect(h.startedAt! <= h.endedAt!).toBe(true);
  });

  it('gives every port the same fingerprint from the three formats (escapes decoded alike, the Date header masked)', () => {
    const fp = (file: string) => Object.fromEntries(hostsOf(file).hosts.flatMap((h) => h.ports.map((p) => [`${h.ip}:${p.port}`, p.hsh256])));
    const xml = fp('banners.xml');
    expect(Object.keys(xml)).toHaveLength(6);
    expect(fp('banners.json')).toEqual(xml);
    expect(fp('banners.ndjson')).toEqual(xml);
    // The HTTP responses of the three runs differ by their Date header only.
    const dates = new Set(
      hostsOf('banners.xml')
        .hosts.concat(hostsOf('banners.json').hosts)
        .flatMap((h) => h.ports.flatMap((p) => p.doc.scripts.filter((s) => s.id === 'masscan:http').map((s) => /Date: (.*)/.exec(s.output)?.[1]))),
    );
    expect(dates.size).toBeGreaterThan(1);
  });

  it('a port without banners has no service and the plain masscan view; a host keeps each port in its view', () => {
    const acc = new MasscanHosts();
    acc.add({ ip: '198.18.0.9', protocol: 'tcp', port: 443, time: 1796564657, status: { state: 'open', reason: 'syn-ack', ttl: '64' } });
    acc.add({ ip: '198.18.0.9', protocol: 'tcp', port: 22, time: 1796564657, banner: { name: 'ssh', text: 'SSH-2.0-x' } });
    const plain = [...acc.toHosts(undefined, MASSCAN_VIEW)];
    expect(plain.map((h) => h.ports.map((p) => p.port))).toEqual([[443]]);
    expect(plain[0]!.ports[0]!.doc).toEqual({ protocol: 'tcp', portid: '443', state: { state: 'open' }, scripts: [] });
    expect(MasscanHosts.viewOf(plain[0]!.ports[0]!.doc)).toBe(MASSCAN_VIEW);
    expect([...acc.toHosts(undefined, MASSCAN_BANNERS_VIEW)].map((h) => h.ports.map((p) => p.port))).toEqual([[22]]);
  });

  it.each<[MasscanFormat, string, RegExp]>([
    ['json', '{ "ip": "198.18.0.300", "timestamp": "1", "ports": [] }', /banners.json:7: "198.18.0.300" is not an IP address/],
    ['json', '{ "ip": "198.18.0.3", "ports": [ {"port": 70000, "proto": "tcp"} ] }', /is not a port number/],
    ['json', '{ "ip": "198.18.0.3" }', /has no "ports" list/],
    ['json', 'nonsense', /not a JSON object of masscan's/],
    ['ndjson', '{"ip":"198.18.0.2","port":80,"proto":"tcp","rec_type":"banner","data":{}}', /a banner without a service_name/],
    ['xml', '<host endtime="1"><address addr="x" addrtype="ipv4"/></host>', /"x" is not an IP address/],
  ])('refuses a bad %s line with its place and what is wrong: %s', (format, line, message) => {
    expect(() => masscanRecordsOfLine(format, line, 'banners.json:7')).toThrow(message);
  });

  it.each([
    ['HTTP/1.0 200 OK\\x0d\\x0aServer: x', 'HTTP/1.0 200 OK\r\nServer: x'],
    ['caf\\xc3\\xa9', 'café'],
    ['caf\u00c3\u00a9', 'café'],
    ['\\xff\\xfe', '\u00ff\u00fe'],
    ['plain', 'plain'],
  ])('decodes the banner %j as %j', (raw, text) => {
    expect(bannerText(raw)).toBe(text);
  });
});
