import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PlumError } from '../core/errors.ts';
import { SEARCH_FIELD_NAMES } from '../core/fields.ts';
import { parseNmapFile, parseNmapStream, parseNmapString } from '../core/nmap/parse.ts';
import { openXmlFile } from '../core/nmap/read-file.ts';
import type { ParsedHost } from '../core/nmap/types.ts';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/nmap/${name}`, import.meta.url), 'utf8');
const fixturePath = (name: string) => new URL(`./fixtures/nmap/${name}`, import.meta.url).pathname;

const HEAD =
  '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n<nmaprun scanner="nmap" args="nmap -p 22 127.0.0.1" start="1700000000" version="7.93" xmloutputversion="1.05">\n<scaninfo type="connect" protocol="tcp" numservices="1" services="22"/>\n';
const TAIL = '<runstats><finished time="1700000010" timestr="x" elapsed="10" exit="success"/><hosts up="1" down="0" total="1"/></runstats>\n</nmaprun>\n';
const host = (ip: string, ports = '', extra = '') =>
  `<host starttime="1700000001" endtime="1700000009"><status state="up" reason="user-set" reason_ttl="0"/>\n<address addr="${ip}" addrtype="ipv4"/>\n<hostnames>\n<hostname name="a.example.org" type="user"/>\n</hostnames>\n<ports>${ports}</ports>${extra}</host>\n`;

function errorOf(f: () => unknown): PlumError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(PlumError);
    return e as PlumError;
  }
  throw new Error('expected an error');
}

describe('nmap XML → documents', () => {
  it('keeps run information', () => {
    const scan = parseNmapString(fixture('circl.xml'));
    expect(scan.error).toBeUndefined();
    expect(scan.run).toMatchObject({
      scanner: 'nmap',
      version: '7.94SVN',
      finished: true,
      exit: 'success',
      startedAt: '2025-09-17T07:06:38.000Z',
      endedAt: '2025-09-17T07:06:57.000Z',
      scanInfo: [{ type: 'connect', protocol: 'tcp', services: '22,80,443' }],
    });
  });

  it('keeps everything nmap said about a host: OS, CPEs, addresses, hostnames, times, other elements', () => {
    const [h] = parseNmapString(fixture('libnmap-1_os_banner_scripts.xml')).hosts as [ParsedHost];
    expect(h.ip).toBe('127.0.0.1');
    expect(h.status).toBe('up');
    expect(h.startedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    // nmap 5 lists osclass directly under <os>
    expect(h.doc.os?.osclass?.length).toBeGreaterThan(3);
    expect(h.doc.os?.osclass?.[0]).toMatchObject({ type: 'WAP', vendor: 'Netgear', accuracy: '96' });
    expect(h.doc.os?.portused.length).toBeGreaterThan(0);
    expect(Object.keys(h.doc.extra)).toEqual(expect.arrayContaining(['uptime', 'distance', 'tcpsequence', 'times']));
    const ssh = h.ports.find((p) => p.port === 22)!;
    expect(ssh.doc.service?.product).toBe('OpenSSH');
    expect(ssh.doc.state).toMatchObject({ state: 'open', reason: 'syn-ack', reason_ttl: '64' });
    // every value stays a string, entities decoded
    const http = h.ports.find((p) => p.port === 80)!;
    const headers = http.doc.scripts.find((s) => s.id === 'http-headers')!.output;
    expect(headers).toContain('ETag: "140756-4c-4d2779c92c5ce"');
    expect(headers).toContain('\n  Server: Apache/2.2.15');
  });

  it('keeps MAC and IPv6 addresses, PTR and user names, CPEs of services and OS classes, host scripts', () => {
    const xml =
      HEAD +
      `<host starttime="1" endtime="2"><status state="up" reason="arp-response" reason_ttl="0"/>
<address addr="127.0.0.5" addrtype="ipv4"/><address addr="::1" addrtype="ipv6"/><address addr="00:11:22:33:44:55" addrtype="mac" vendor="Acme &amp; Co"/>
<hostnames><hostname name="www.example.co.uk" type="user"/><hostname name="h-5.isp.example.net" type="PTR"/></hostnames>
<ports><extraports state="closed" count="998"><extrareasons reason="conn-refused" count="998" proto="tcp" ports="1-21"/></extraports>
<port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="ssh" product="OpenSSH" version="9.2p1 Debian 2" extrainfo="protocol 2.0" ostype="Linux" method="probed" conf="10"><cpe>cpe:/a:openbsd:openssh:9.2p1</cpe><cpe>cpe:/o:linux:linux_kernel</cpe></service>
<script id="ssh-hostkey" output="&#xa;  256 aa:bb (ECDSA)&#xa;  256 cc:dd (ED25519)"><table><elem key="type">ecdsa-sha2-nistp256</elem><elem key="bits">256</elem><elem key="fingerprint">aabb</elem></table><table><elem key="type">ssh-ed25519</elem><elem key="bits">256</elem><elem key="fingerprint">ccdd</elem></table></script>
<script id="weird" output="real output"><elem key="id">not-the-id</elem><elem key="output">not-the-output</elem><elem>first</elem><elem>second</elem><elem key="k">1</elem><elem key="k">2</elem><elem key="k">3</elem><table key="elems"><elem>x</elem></table></script>
</port></ports>
<os><portused state="open" proto="tcp" portid="22"/><osmatch name="Linux 5.X" accuracy="100" line="1"><osclass type="general purpose" vendor="Linux" osfamily="Linux" osgen="5.X" accuracy="100"><cpe>cpe:/o:linux:linux_kernel:5</cpe></osclass></osmatch></os>
<hostscript><script id="smb-os-discovery" output="OS: Unix"><elem key="os">Unix</elem></script></hostscript>
<times srtt="50" rttvar="20" to="100000"/></host>\n` +
      TAIL;
    const [h] = parseNmapString(xml).hosts as [ParsedHost];
    expect(h.addresses).toEqual([
      { addr: '127.0.0.5', addrtype: 'ipv4' },
      { addr: '::1', addrtype: 'ipv6' },
      { addr: '00:11:22:33:44:55', addrtype: 'mac', vendor: 'Acme & Co' },
    ]);
    expect(h.hostnames).toEqual([
      { name: 'www.example.co.uk', type: 'user' },
      { name: 'h-5.isp.example.net', type: 'PTR' },
    ]);
    expect(h.doc.extraports).toEqual([{ state: 'closed', count: '998', reasons: [{ reason: 'conn-refused', count: '998', proto: 'tcp', ports: '1-21' }] }]);
    expect(h.doc.hostscripts).toEqual([{ id: 'smb-os-discovery', output: 'OS: Unix', os: 'Unix' }]);
    expect(h.doc.os?.osmatch[0]?.osclass[0]?.cpe).toEqual(['cpe:/o:linux:linux_kernel:5']);
    const p = h.ports[0]!;
    expect(p.doc.service?.cpe).toEqual(['cpe:/a:openbsd:openssh:9.2p1', 'cpe:/o:linux:linux_kernel']);
    // keyless tables do not overwrite each other
    const hostkey = p.doc.scripts.find((s) => s.id === 'ssh-hostkey')!;
    expect(hostkey.tables?.map((t) => t.type)).toEqual(['ecdsa-sha2-nistp256', 'ssh-ed25519']);
    // keys never overwrite id/output; keyless elems in order; repeated keys all kept
    const weird = p.doc.scripts.find((s) => s.id === 'weird')!;
    expect(weird).toMatchObject({
      id: 'weird',
      output: 'real output',
      'key:id': 'not-the-id',
      'key:output': 'not-the-output',
      elems: ['first', 'second'],
      k: ['1', '2', '3'],
      'key:elems': { elems: ['x'] },
    });
    // fields
    expect(p.fields.cpe).toEqual(['cpe:/a:openbsd:openssh:9.2p1', 'cpe:/o:linux:linux_kernel']);
    expect(p.fields.service_version).toEqual(['9.2p1 Debian 2']);
    expect(p.fields.fqdn).toEqual(['www.example.co.uk', 'h-5.isp.example.net']);
    expect(p.fields.domain).toEqual(['example.co.uk', 'example.net']);
    expect(p.fields.tld).toEqual(['co.uk', 'net']);
    expect(p.fields.host).toEqual(['www', 'h-5.isp']);
    expect(p.fields.fqdn_requested).toEqual(['www.example.co.uk']);
    expect(p.fields.domain_requested).toEqual(['example.co.uk']);
    expect(p.fields.ptr).toEqual(['h-5.isp.example.net']);
    expect(p.fields.script).toEqual(['ssh-hostkey', 'weird']);
  });

  it('takes http_title from the title elem, or from the output of older nmap, never from a "no title" message', () => {
    const port = (n: number, script: string) => `<port protocol="tcp" portid="${n}"><state state="open" reason="syn-ack"/>${script}</port>`;
    const xml =
      HEAD +
      host(
        '127.0.0.1',
        port(80, '<script id="http-title" output="Index of /"><elem key="title">Index of /</elem></script>') +
          port(81, '<script id="http-title" output="Old style title"/>') +
          port(82, '<script id="http-title" output="Site doesn&apos;t have a title (text/html)."/>') +
          port(
            83,
            '<script id="http-title" output="Did not follow redirect to https://www.example.org/"><elem key="redirect_url">https://www.example.org/</elem></script>',
          ),
      ) +
      TAIL;
    const ports = parseNmapString(xml).hosts[0]!.ports;
    expect(ports.map((p) => p.fields.http_title)).toEqual([['Index of /'], ['Old style title'], [], []]);
    expect(ports[3]!.fields.fqdn).toContain('www.example.org');
  });

  it('extracts every search field as a list of strings (circl.xml)', () => {
    const [h] = parseNmapString(fixture('circl.xml')).hosts as [ParsedHost];
    for (const p of h.ports) {
      expect(Object.keys(p.fields).sort()).toEqual([...SEARCH_FIELD_NAMES].sort());
      for (const v of Object.values(p.fields)) expect((v as unknown[]).every((x) => typeof x === 'string')).toBe(true);
    }
    const https = h.ports.find((p) => p.port === 443)!.fields;
    expect(https).toMatchObject({
      x509_subject_cn: ['*.circl.lu'],
      x509_issuer_cn: ['DigiCert Global G2 TLS RSA SHA256 2020 CA1'],
      x509_san: ['*.circl.lu', 'circl.lu'],
      x509_md5: ['aa94324c0c71170024f1a8a3e8cfdb09'],
      x509_sha1: ['ce11d98198166fd760b2a391ec24114b42c6de58'],
      x509_not_after: ['2026-05-18T23:59:59.000Z'],
      x509_key_type: ['rsa'],
      x509_key_bits: ['2048'],
      http_server: ['Apache'],
      http_favicon_md5: ['55ed74948d924396c15d54efe07414c1'],
      domain: ['circl.lu'],
      tld: ['lu'],
    });
    // nmap printed md5 and sha1; sha256 comes from the PEM (value from `openssl x509 -fingerprint -sha256`).
    expect(https.x509_sha256).toEqual(['a60955fb0fd4558def5d0b2db67e225f0a987069e4b1af7d63e3c15e2b2479f7']);
    expect(https.x509_subject[0]).toContain('CN=*.circl.lu');
    expect(https.http_title[0]).toContain('CIRCL');
  });

  it('extracts HTTP header fields (captured from a real nmap run)', () => {
    const [p] = parseNmapString(fixture('loopback-volatile-web.xml')).hosts[0]!.ports;
    expect(p!.fields.http_cookiename).toEqual(['SESSION', 'csrftoken']);
    expect(p!.fields.http_etag).toHaveLength(1);
    expect(p!.fields.http_headval).toContain('server: Apache/2.4.58 (Debian)');
    expect(p!.fields.http_header).toContain('x-varnish');
  });

  it('gives every port and host a fingerprint and its version', () => {
    for (const f of ['circl.xml', 'libnmap-2_hosts_version.xml', 'loopback-https.xml']) {
      for (const h of parseNmapString(fixture(f)).hosts) {
        expect(h.hsh256).toMatch(/^[0-9a-f]{64}$/);
        expect(h.fpVersion).toBe(1001);
        for (const p of h.ports) expect(p.hsh256).toMatch(/^[0-9a-f]{64}$/);
      }
    }
  });

  it('--open-only keeps open ports and hosts with an open port', () => {
    const all = parseNmapString(fixture('libnmap-os_scan6.xml'));
    const open = parseNmapString(fixture('libnmap-os_scan6.xml'), { openOnly: true });
    expect(all.hosts).toHaveLength(256);
    expect(open.hosts.map((h) => h.ip)).toEqual(['192.168.1.1', '192.168.1.5', '192.168.1.3']);
    expect(parseNmapString(fixture('circl.xml'), { openOnly: true }).hosts[0]!.ports.map((p) => p.port)).toEqual([80, 443]);
  });
});

describe('streaming', () => {
  it('gives the same result whatever the chunk size, and from a file', async () => {
    const xml = fixture('libnmap-2_hosts_version.xml');
    const whole = parseNmapString(xml);
    for (const size of [1, 7, 64, 4096]) {
      const chunks: Buffer[] = [];
      const buf = Buffer.from(xml);
      for (let i = 0; i < buf.length; i += size) chunks.push(buf.subarray(i, i + size));
      const stream = parseNmapStream(chunks);
      const hosts: ParsedHost[] = [];
      for await (const h of stream) hosts.push(h);
      expect(stream.error).toBeUndefined();
      expect(hosts).toEqual(whole.hosts);
      expect(stream.run).toEqual(whole.run);
    }
    expect((await parseNmapFile(fixturePath('libnmap-2_hosts_version.xml'))).hosts).toEqual(whole.hosts);
  });

  it('decodes UTF-8 split across chunks', async () => {
    const xml =
      HEAD +
      host(
        '127.0.0.2',
        '<port protocol="tcp" portid="80"><state state="open" reason="syn-ack"/><script id="http-title" output="Caf&#xe9; — ünïcode 😀"><elem key="title">Café — ünïcode 😀</elem></script></port>',
      ) +
      TAIL;
    const buf = Buffer.from(xml);
    const chunks = Array.from({ length: buf.length }, (_, i) => buf.subarray(i, i + 1));
    const hosts: ParsedHost[] = [];
    for await (const h of parseNmapStream(chunks)) hosts.push(h);
    expect(hosts[0]!.ports[0]!.fields.http_title).toEqual(['Café — ünïcode 😀']);
    expect(hosts[0]!.ports[0]!.doc.scripts[0]!.output).toBe('Café — ünïcode 😀');
  });
});

describe('openXmlFile', () => {
  const tmp = () => mkdtempSync(path.join(tmpdir(), 'plum-open-xml-'));
  // Many hosts: a file of many 64 KB chunks.
  const many = (n: number) =>
    HEAD +
    Array.from({ length: n }, (_, i) =>
      host(
        `127.0.${i >> 8}.${i & 255}`,
        '<port protocol="tcp" portid="80"><state state="open" reason="syn-ack"/><service name="http" product="nginx"/></port>',
      ),
    ).join('') +
    TAIL;
  const bytesOf = async (chunks: AsyncIterable<Buffer>) => {
    const all: Buffer[] = [];
    for await (const c of chunks) all.push(Buffer.from(c));
    return Buffer.concat(all);
  };

  it('reads a regular file and a FIFO byte for byte', async () => {
    const dir = tmp();
    try {
      const xml = many(2000);
      const file = path.join(dir, 'scan.xml');
      writeFileSync(file, xml);
      expect(Buffer.byteLength(xml)).toBeGreaterThan(4 * 64 * 1024);
      expect((await bytesOf(openXmlFile(file))).toString()).toBe(xml);
      // A FIFO (as `plum parse <(nmap …)` gives) is read as a stream: its writer runs in this process's event
      // loop here, so a read that held the thread would never see the bytes.
      const fifo = path.join(dir, 'scan.fifo');
      execFileSync('mkfifo', [fifo]);
      const writer = new Promise<void>((resolve, reject) =>
        createWriteStream(fifo)
          .on('error', reject)
          .end(xml, () => resolve()),
      );
      const [read] = await Promise.all([bytesOf(openXmlFile(fifo)), writer]);
      expect(read.toString()).toBe(xml);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lets timers run while a large file is parsed, and closes the file on an early break', async () => {
    const dir = tmp();
    try {
      const file = path.join(dir, 'scan.xml');
      writeFileSync(file, many(8000));
      let ticks = 0;
      const timer = setInterval(() => ticks++, 1);
      let ticksHalfway = -1;
      let n = 0;
      try {
        for await (const _h of parseNmapStream(openXmlFile(file), { workers: 0 })) if (++n === 4000) ticksHalfway = ticks;
      } finally {
        clearInterval(timer);
      }
      expect(n).toBe(8000);
      // Without a turn of the event loop now and then, the whole parse would run before any timer.
      expect(ticksHalfway).toBeGreaterThan(0);
      const fds = () => readdirSync('/proc/self/fd').length;
      const before = fds();
      for await (const _h of parseNmapStream(openXmlFile(file), { workers: 0 })) break;
      expect(fds()).toBe(before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a directory or a missing file: a clear error', async () => {
    await expect(bytesOf(openXmlFile(tmpdir()))).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/is a directory/) });
    await expect(bytesOf(openXmlFile('/nonexistent/scan.xml'))).rejects.toMatchObject({ code: 'not_found', message: 'no such file: /nonexistent/scan.xml' });
  });
});

describe('truncated and invalid input', () => {
  it('a truncated file yields every complete host and a truncation error', () => {
    const xml = HEAD + host('127.0.0.1') + host('127.0.0.2') + host('127.0.0.3');
    const cut = xml.slice(0, xml.lastIndexOf('<hostnames>'));
    const scan = parseNmapString(cut);
    expect(scan.hosts.map((h) => h.ip)).toEqual(['127.0.0.1', '127.0.0.2']);
    expect(scan.error?.code).toBe('truncated');
    expect(scan.error?.message).toMatch(/truncated inside the <host> element that starts at line \d+/);
    expect(scan.run.finished).toBe(false);
  });

  it('a file cut between hosts is truncated too (no </nmaprun>)', () => {
    const scan = parseNmapString(HEAD + host('127.0.0.1'));
    expect(scan.hosts).toHaveLength(1);
    expect(scan.error?.code).toBe('truncated');
  });

  it('a real capture truncated at every 97th byte never throws and keeps complete hosts', () => {
    const xml = fixture('libnmap-2_hosts_version.xml');
    const full = parseNmapString(xml).hosts;
    for (let n = 400; n < xml.length - 20; n += 97) {
      const scan = parseNmapString(xml.slice(0, n));
      expect(scan.error, `cut at ${n}`).toBeDefined();
      expect(full.slice(0, scan.hosts.length)).toEqual(scan.hosts);
    }
  });

  it('invalid XML inside a host: the hosts before it and an error with line and column', () => {
    const xml = HEAD + host('127.0.0.1') + host('127.0.0.2', '<port protocol="tcp" portid="1"><state state="open"></port>') + host('127.0.0.3') + TAIL;
    const scan = parseNmapString(xml);
    expect(scan.hosts.map((h) => h.ip)).toEqual(['127.0.0.1']);
    expect(scan.error?.code).toBe('parse_error');
    expect(scan.error?.details).toMatchObject({ line: 16 });
    expect(scan.error?.message).toMatch(/^invalid XML at line 16, column \d+: /);
  });

  it('garbage between hosts is reported with its position', () => {
    const xml = HEAD + host('127.0.0.1') + 'garbage <x\n' + host('127.0.0.2') + TAIL;
    const scan = parseNmapString(xml);
    expect(scan.hosts.map((h) => h.ip)).toEqual(['127.0.0.1']);
    expect(scan.error?.message).toMatch(/invalid XML at line 11, column 1: text outside any element/);
  });

  it('not nmap XML at all: a clear error', () => {
    expect(errorOf(() => parseNmapString('')).message).toMatch(/not nmap XML/);
    expect(errorOf(() => parseNmapString('{"json": true}')).message).toMatch(/not nmap XML/);
    expect(errorOf(() => parseNmapString('<?xml version="1.0"?><html><body/></html>')).message).toMatch(/not nmap XML/);
    expect(errorOf(() => parseNmapString('<host><status state="up"/></host>')).message).toMatch(/not nmap XML/);
  });

  it('a missing file: not_found with a hint', async () => {
    await expect(parseNmapFile('/nonexistent/scan.xml')).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('hostile input', () => {
  const refused = (xml: string) => {
    const started = Date.now();
    const e = errorOf(() => parseNmapString(xml));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(e.code).toBe('parse_error');
    expect(e.message).toMatch(/refused: the XML declares a DTD or entities at line \d+, column \d+/);
    return e;
  };

  it('refuses XXE (external entity, SYSTEM)', () => {
    refused(
      '<?xml version="1.0"?>\n<!DOCTYPE nmaprun [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<nmaprun scanner="nmap"><host><status state="up"/><address addr="127.0.0.1" addrtype="ipv4"/><ports><port protocol="tcp" portid="1"><state state="open"/><script id="x" output="&xxe;"/></port></ports></host></nmaprun>',
    );
  });

  it('refuses entity expansion (billion laughs) in bounded time', () => {
    const lol = ['<!ENTITY lol "lol">', ...Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`)].join('\n');
    refused(
      `<?xml version="1.0"?>\n<!DOCTYPE nmaprun [\n${lol}\n]>\n<nmaprun scanner="nmap"><host><address addr="127.0.0.1" addrtype="ipv4"/><hostnames><hostname name="&lol9;" type="user"/></hostnames></host></nmaprun>`,
    );
  });

  it('refuses a DOCTYPE with a PUBLIC or SYSTEM external id', () => {
    refused('<?xml version="1.0"?>\n<!DOCTYPE nmaprun SYSTEM "http://127.0.0.1/evil.dtd">\n<nmaprun scanner="nmap"></nmaprun>');
    refused('<?xml version="1.0"?>\n<!DOCTYPE nmaprun PUBLIC "-//x//y" "http://127.0.0.1/evil.dtd">\n<nmaprun scanner="nmap"></nmaprun>');
  });

  it('refuses a DOCTYPE or ENTITY hidden inside a host, even after valid hosts', () => {
    const e = refused(HEAD + host('127.0.0.1') + host('127.0.0.2', '', '<!ENTITY x "y">') + TAIL);
    expect(e.details).toMatchObject({ line: 16 });
  });

  it("accepts nmap's own bare <!DOCTYPE nmaprun>", () => {
    expect(parseNmapString(HEAD + host('127.0.0.1') + TAIL).error).toBeUndefined();
  });

  it('leaves undeclared entities as text and never resolves them', () => {
    const xml =
      HEAD + host('127.0.0.1', '<port protocol="tcp" portid="80"><state state="open"/><script id="x" output="a &amp;b; &#x41; &lt;c&gt;"/></port>') + TAIL;
    expect(parseNmapString(xml).hosts[0]!.ports[0]!.doc.scripts[0]!.output).toBe('a &b; A <c>');
  });

  it('bounds the size of one host element', () => {
    const big = HEAD + host('127.0.0.1', `<port protocol="tcp" portid="80"><state state="open"/><script id="x" output="${'A'.repeat(5000)}"/></port>`) + TAIL;
    const e = errorOf(() => parseNmapString(big, { maxHostBytes: 1000 }));
    expect(e.message).toMatch(/larger than 1000 bytes/);
  });

  it('flushes long blank text between hosts, and bounds an element between hosts that never ends', async () => {
    const chunksOf = (text: string) => {
      const buf = Buffer.from(text);
      const out: Buffer[] = [];
      for (let i = 0; i < buf.length; i += 64 * 1024) out.push(buf.subarray(i, i + 64 * 1024));
      return out;
    };
    const parse = async (text: string, maxHostBytes?: number) => {
      const stream = parseNmapStream(chunksOf(text), { maxHostBytes, workers: 0 });
      const ips: string[] = [];
      try {
        for await (const h of stream) ips.push(h.ip);
      } catch (e) {
        return { ips, error: e as PlumError };
      }
      return { ips, error: stream.error };
    };
    // 8 MB of blank lines (no tag in them) between two hosts: both hosts, no error, the lines counted.
    const blank = await parse(HEAD + host('127.0.0.1') + '\n'.repeat(8 * 1024 * 1024) + host('127.0.0.2', '', '<bad') + TAIL);
    expect(blank.ips).toEqual(['127.0.0.1']);
    expect(blank.error?.details?.line).toBeGreaterThan(8 * 1024 * 1024);
    // A tag opened between hosts and never closed: refused past maxHostBytes with its line, not kept growing.
    const open = await parse(HEAD + host('127.0.0.1') + '<foo ' + ' '.repeat(3 * 1024 * 1024) + TAIL, 2 * 1024 * 1024);
    expect(open.ips).toEqual(['127.0.0.1']);
    expect(open.error?.message).toMatch(/an element starting at line \d+ is larger than 2097152 bytes/);
  });
});
