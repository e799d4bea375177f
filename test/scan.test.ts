import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import murmurhash from 'murmurhash3js-revisited';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNmapRunner, parseProgressLine, projectScriptDigests, type NmapProgress, type NmapRunResult } from '../activities/nmap.ts';
import { PlumError } from '../core/errors.ts';
import { parseNmapString } from '../core/nmap/parse.ts';
import { planJobs } from '../core/plan.ts';
import { BANNER_PROFILE, WEB_PROFILE, parseProfile } from '../core/profiles.ts';
import { FTP_BANNER, HTTP_SERVER_HEADER, SMTP_BANNER, SSH_BANNER, TELNET_BANNER, startPerimeter, type Perimeter } from '../demo/perimeter/index.ts';

/**
 * Real nmap against the loopback test perimeter. nmap is slow, so one scan
 * with every project script is shared by most assertions; the rest are short
 * single-port scans.
 */

interface Elem {
  '@_key'?: string;
  '#text'?: string;
}
interface Script {
  '@_id': string;
  '@_output': string;
  elem?: Elem[];
  table?: unknown[];
}
interface Port {
  '@_protocol': string;
  '@_portid': string;
  state: { '@_state': string };
  script?: Script[];
}
interface Host {
  address: Array<{ '@_addr': string }>;
  ports?: { port?: Port[] };
}

const xmlParser = new XMLParser({
  ignoreAttributes: false,
  parseTagValue: false,
  parseAttributeValue: false,
  htmlEntities: true,
  isArray: (name) => ['host', 'port', 'script', 'elem', 'table', 'address'].includes(name),
});

function hostsOf(xml: Buffer): Host[] {
  const doc = xmlParser.parse(xml.toString('utf8'));
  return doc.nmaprun?.host ?? [];
}

function portOf(hosts: Host[], ip: string, port: number): Port | undefined {
  const h = hosts.find((x) => x.address.some((a) => a['@_addr'] === ip));
  return h?.ports?.port?.find((p) => Number(p['@_portid']) === port);
}

function elems(port: Port | undefined, scriptId: string): Record<string, string> {
  const s = port?.script?.find((x) => x['@_id'] === scriptId);
  const out: Record<string, string> = {};
  for (const e of s?.elem ?? []) if (e['@_key']) out[e['@_key']] = e['#text'] ?? '';
  return out;
}

/** Shodan's favicon hash: mmh3 of base64 with a newline every 76 characters and at the end, signed. */
function shodanHash(body: Buffer): string {
  const b64 = body.toString('base64').replace(/.{76}/g, '$&\n') + '\n';
  return String(murmurhash.x86.hash32(Buffer.from(b64)) | 0);
}

function stillRunning(marker: string): boolean {
  try {
    return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false;
  }
}

let perimeter: Perimeter;
const runner = createNmapRunner({ statsEvery: '1s', killGraceMs: 1000 });
let shared: NmapRunResult;
let sharedProgress: NmapProgress[] = [];

beforeAll(async () => {
  perimeter = await startPerimeter();
  // One job from the planner, with the scripts of both built-in profiles.
  const profile = parseProfile({
    name: 'all-scripts',
    tcpPorts: perimeter.services.map((s) => String(s.port)).join(','),
    scripts: [...new Set([...BANNER_PROFILE.scripts, ...WEB_PROFILE.scripts])],
    nmapArgs: '--script-args plum-banner.timeout=2',
  });
  const jobs = planJobs(profile, [{ value: `${perimeter.prefix}.1-6` }]);
  expect(jobs).toHaveLength(1);
  shared = await runner.runNmap({ ...jobs[0]!, timeoutMs: 90_000 }, { onProgress: (p) => sharedProgress.push(p) });
});

afterAll(async () => {
  await perimeter?.close();
});

describe('the nmap runner on the loopback perimeter', () => {
  it('runs nmap with the predecessor defaults and an argument array', () => {
    expect(shared.interrupted).toBe(false);
    expect(shared.exitCode).toBe(0);
    const a = shared.args;
    expect(a.slice(0, 10)).toEqual([
      '-T3',
      '--host-timeout',
      '40s',
      '--max-retries',
      '2',
      '--min-hostgroup',
      '256',
      '-Pn',
      runner.privileged ? '-sS' : '-sT',
      '-p',
    ]);
    expect(a).toContain('--no-stylesheet');
    expect(a[a.indexOf('--') + 1]).toBe(`${perimeter.prefix}.1-6`);
    expect(a[a.indexOf('--script') + 1]).toMatch(/\/nse\/plum-banner\.nse,.*http-title/);
    expect(shared.xml.toString('utf8')).toMatch(/<\/nmaprun>\s*$/);
  });

  it('gets the full banners from plum-banner', () => {
    const hosts = hostsOf(shared.xml);
    const s = (name: string) => perimeter.service(name);
    expect(elems(portOf(hosts, s('ssh').ip, s('ssh').port), 'plum-banner')).toEqual({ banner: SSH_BANNER });
    expect(elems(portOf(hosts, s('ftp').ip, s('ftp').port), 'plum-banner')).toEqual({ banner: FTP_BANNER });
    expect(elems(portOf(hosts, s('smtp').ip, s('smtp').port), 'plum-banner')).toEqual({ banner: SMTP_BANNER });
    const script = portOf(hosts, s('ssh').ip, s('ssh').port)!.script!.find((x) => x['@_id'] === 'plum-banner')!;
    expect(script['@_output']).toBe(SSH_BANNER);
    // Longer than the stock banner script's truncation (63/135 characters), kept whole.
    expect(TELNET_BANNER.length).toBeGreaterThan(135);
    expect(elems(portOf(hosts, s('telnet').ip, s('telnet').port), 'plum-banner')).toEqual({ banner: TELNET_BANNER });
  });

  it("gives the same banner whatever nmap's verbosity, and scans names as given", async () => {
    const t = perimeter.service('telnet');
    const r = await runner.runNmap({ targets: [t.ip, 'localhost'], tcpPorts: String(t.port), scripts: ['plum-banner'], extraArgs: ['-vv'] });
    expect(r.args).toContain('-vv');
    expect(elems(portOf(hostsOf(r.xml), t.ip, t.port), 'plum-banner')).toEqual({ banner: TELNET_BANNER });
    // A name target is handed to nmap as a name, which records it as the requested hostname.
    expect(r.xml.toString('utf8')).toContain('<hostname name="localhost" type="user"/>');
  });

  it('hashes the favicon like Shodan (mmh3 cross-checked), with md5 and sha256', () => {
    const hosts = hostsOf(shared.xml);
    for (const name of ['http', 'https']) {
      const s = perimeter.service(name);
      const fav = elems(portOf(hosts, s.ip, s.port), 'plum-favicon');
      expect(fav).toEqual({
        path: perimeter.faviconPath,
        mmh3: shodanHash(perimeter.favicon),
        md5: createHash('md5').update(perimeter.favicon).digest('hex'),
        sha256: createHash('sha256').update(perimeter.favicon).digest('hex'),
      });
    }
    // The favicon is longer than 57 bytes, so the base64 spans several 76-character lines.
    expect(perimeter.favicon.toString('base64').length).toBeGreaterThan(76 * 2);
  });

  it('runs the stock web scripts: title, server header, headers and certificate', () => {
    const hosts = hostsOf(shared.xml);
    const http = perimeter.service('http');
    const https = perimeter.service('https');
    const p = portOf(hosts, http.ip, http.port)!;
    expect(elems(p, 'http-title').title).toBe(perimeter.title());
    const server = p.script!.find((x) => x['@_id'] === 'http-server-header')!;
    expect(server['@_output']).toBe(HTTP_SERVER_HEADER);
    const headers = p.script!.find((x) => x['@_id'] === 'http-headers')!;
    expect(headers['@_output']).toMatch(/Set-Cookie: PHPSESSID=/);
    expect(headers['@_output']).toMatch(/ETag: "/);
    const cert = portOf(hosts, https.ip, https.port)!.script!.find((x) => x['@_id'] === 'ssl-cert')!;
    const sans = new X509Certificate(perimeter.certificatePem).subjectAltName!;
    expect(sans).toContain(`IP Address:${https.ip}`);
    expect(cert['@_output']).toContain(`Subject Alternative Name: ${sans}`);
    expect(cert['@_output']).toContain('commonName=perimeter.plum.test');
  });

  it('produces XML the parser maps into search fields (favicon, banner, title, certificate)', () => {
    const scan = parseNmapString(shared.xml.toString('utf8'));
    expect(scan.error).toBeUndefined();
    const port = (name: string) => {
      const s = perimeter.service(name);
      return scan.hosts.find((h) => h.ip === s.ip)!.ports.find((p) => p.port === s.port)!;
    };
    const web = port('http').fields;
    expect(web.http_favicon_mmhash).toEqual([shodanHash(perimeter.favicon)]);
    expect(web.http_favicon_path).toEqual([perimeter.faviconPath]);
    expect(web.http_title).toEqual([perimeter.title()]);
    expect(web.http_server).toEqual([HTTP_SERVER_HEADER]);
    expect(port('https').fields.x509_san).toEqual(expect.arrayContaining(['perimeter.plum.test', 'www.perimeter.plum.test']));
    expect(port('ssh').fields.banner).toEqual([SSH_BANNER]);
    expect(port('telnet').fields.banner).toEqual([TELNET_BANNER]);
  });

  it('reports scan progress parsed from --stats-every', () => {
    expect(parseProgressLine('Connect Scan Timing: About 45.50% done; ETC: 12:00 (0:01:05 remaining)')).toEqual({
      percent: 45.5,
      etaSeconds: 65,
      phase: 'Connect Scan',
    });
    const st = {};
    expect(parseProgressLine('Stats: 0:00:03 elapsed; 2 hosts completed (5 up), 3 undergoing Script Scan', st)).toBeNull();
    expect(parseProgressLine('NSE Timing: About 10.00% done', st)).toEqual({ percent: 10, phase: 'NSE', hostsCompleted: 2, hostsUp: 5 });
    // The shared scan waits ~2 s on HTTP ports for a banner, so nmap printed progress at least once.
    expect(sharedProgress.length).toBeGreaterThan(0);
    expect(sharedProgress[0]!.percent).toBeGreaterThanOrEqual(0);
  });

  it('works unprivileged with a connect scan, and sees a title change and a stopped service', async () => {
    const http = perimeter.service('http');
    const ssh = perimeter.service('ssh');
    perimeter.setHttpTitle('Changed title 2');
    await perimeter.stopService('ssh');
    try {
      const plain = createNmapRunner({ privileged: false });
      const r = await plain.runNmap({ targets: [http.ip, ssh.ip], tcpPorts: `${http.port},${ssh.port}`, scripts: ['http-title'] });
      expect(r.args).toContain('-sT');
      expect(r.args).not.toContain('-sS');
      const hosts = hostsOf(r.xml);
      expect(portOf(hosts, http.ip, http.port)!.state['@_state']).toBe('open');
      expect(elems(portOf(hosts, http.ip, http.port), 'http-title').title).toBe('Changed title 2');
      expect(portOf(hosts, ssh.ip, ssh.port)!.state['@_state']).toBe('closed');
    } finally {
      await perimeter.startService('ssh');
    }
  });

  it("kills nmap's process group on cancellation and keeps the partial XML", async () => {
    const ftp = perimeter.service('ftp');
    const http = perimeter.service('http');
    const ac = new AbortController();
    const progress: NmapProgress[] = [];
    // plum-banner waits 60 s for a banner on the HTTP port: only the abort ends this scan early.
    const p = runner.runNmap(
      { targets: [http.ip, ftp.ip], tcpPorts: `${http.port},${ftp.port}`, scripts: ['plum-banner'], extraArgs: ['--script-args', 'plum-banner.timeout=60'] },
      {
        signal: ac.signal,
        onProgress: (x) => {
          progress.push(x);
          ac.abort();
        },
      },
    );
    const r = await p;
    expect(r.interrupted).toBe(true);
    expect(r.interruptReason).toBe('cancelled');
    expect(r.durationMs).toBeLessThan(20_000);
    expect(progress.length).toBeGreaterThan(0);
    expect(r.xml.toString('utf8')).toMatch(/^<\?xml/);
    expect(r.xml.toString('utf8')).not.toMatch(/<\/nmaprun>/);
    expect(stillRunning(r.args[r.args.indexOf('-oX') + 1]!)).toBe(false);
  });

  it('honours a cancellation that arrives while the scan is being prepared', async () => {
    const http = perimeter.service('http');
    const ac = new AbortController();
    const p = runner.runNmap(
      { targets: [http.ip], tcpPorts: String(http.port), scripts: ['plum-banner'], extraArgs: ['--script-args', 'plum-banner.timeout=60'] },
      { signal: ac.signal },
    );
    // runNmap has passed its first check and is awaiting its temp dir and arguments.
    ac.abort();
    const r = await p;
    expect(r.interrupted).toBe(true);
    expect(r.interruptReason).toBe('cancelled');
    expect(r.durationMs).toBeLessThan(15_000);
    expect(stillRunning(r.args[r.args.indexOf('-oX') + 1]!)).toBe(false);
  });

  it('kills nmap at the job timeout', async () => {
    const http = perimeter.service('http');
    const r = await runner.runNmap({
      targets: [http.ip],
      tcpPorts: String(http.port),
      scripts: ['plum-banner'],
      extraArgs: ['--script-args', 'plum-banner.timeout=60'],
      timeoutMs: 2500,
    });
    expect(r.interrupted).toBe(true);
    expect(r.interruptReason).toBe('timeout');
    expect(r.durationMs).toBeLessThan(15_000);
    expect(stillRunning(r.args[r.args.indexOf('-oX') + 1]!)).toBe(false);
  });

  it("reports nmap's own message when it fails", async () => {
    const http = perimeter.service('http');
    // A broken project script: the runner passes it on (unknown stock names are refused before nmap starts).
    const nseDir = mkdtempSync(path.join(os.tmpdir(), 'plum-nse-'));
    writeFileSync(path.join(nseDir, 'plum-banner.nse'), 'this is not lua =\n');
    try {
      const broken = createNmapRunner({ nseDir });
      const err = await broken.runNmap({ targets: [http.ip], tcpPorts: String(http.port), scripts: ['plum-banner'] }).catch((e) => e);
      expect(err).toBeInstanceOf(PlumError);
      expect(err.code).toBe('nmap_failed');
      expect(err.message).toMatch(/nmap failed.*plum-banner\.nse/);
    } finally {
      rmSync(nseDir, { recursive: true, force: true });
    }
  });

  it('refuses a script the installed nmap does not know before starting nmap', async () => {
    const err = await createNmapRunner({ nmapPath: '/nonexistent/nmap' })
      .runNmap({ targets: ['127.0.0.1'], tcpPorts: '80', scripts: ['no-such-script-xyz'] })
      .catch((e) => e);
    expect(err).toBeInstanceOf(PlumError);
    expect(err.message).toBe('unknown NSE script "no-such-script-xyz": it is not a script of the installed nmap');
  });

  it('fingerprints the project scripts it ships', async () => {
    const d = await projectScriptDigests();
    expect(Object.keys(d)).toEqual(['plum-banner', 'plum-favicon']);
    for (const v of Object.values(d)) expect(v).toMatch(/^[0-9a-f]{64}$/);
  });

  it('builds UDP and IPv6 arguments, and refuses UDP without root', async () => {
    const root = createNmapRunner({ privileged: true });
    const args = await root.buildArgs({ targets: ['2001:db8::1'], tcpPorts: '443,22', udpPorts: '161,53', kind: 'ipv6', hostTimeout: '90s' }, '/tmp/x.xml');
    expect(args).toEqual([
      '-T3',
      '--host-timeout',
      '90s',
      '--max-retries',
      '2',
      '--min-hostgroup',
      '256',
      '-Pn',
      '-sS',
      '-sU',
      '-p',
      'T:22,443,U:53,161',
      '-oX',
      '/tmp/x.xml',
      '--no-stylesheet',
      '--stats-every',
      '2s',
      '-6',
      '--',
      '2001:db8::1',
    ]);
    const plain = createNmapRunner({ privileged: false });
    await expect(plain.buildArgs({ targets: ['127.0.0.1'], tcpPorts: '80', udpPorts: '53' }, '/tmp/x.xml')).rejects.toThrow(/UDP scanning needs root/);
  });

  it('scans UDP when root (and refuses otherwise)', async () => {
    const s = perimeter.service('smtp');
    const spec = { targets: [s.ip], tcpPorts: String(s.port), udpPorts: '5353' };
    if (!runner.privileged) {
      await expect(runner.runNmap(spec)).rejects.toThrow(/UDP scanning needs root/);
      return;
    }
    // Nothing listens on UDP: the kernel answers "port unreachable", so nmap says closed.
    const r = await runner.runNmap(spec);
    expect(r.args).toContain('-sU');
    const hosts = hostsOf(r.xml);
    const udp = hosts[0]!.ports!.port!.find((p) => p['@_protocol'] === 'udp');
    expect(udp?.state['@_state']).toBe('closed');
  });

  it('refuses unsafe specs before starting nmap', async () => {
    const bad = [
      { targets: ['-iL/etc/passwd'], tcpPorts: '80' },
      { targets: ['127.0.0.1'], tcpPorts: '80', extraArgs: ['-oN', '/tmp/x'] },
      { targets: ['127.0.0.1'], tcpPorts: '80;id' },
      { targets: [], tcpPorts: '80' },
      { targets: ['127.0.0.1'], tcpPorts: '80', scripts: ['../../tmp/evil'] },
    ];
    for (const spec of bad) {
      const err = await runner.runNmap(spec).catch((e) => e);
      expect(err, JSON.stringify(spec)).toBeInstanceOf(PlumError);
      expect(['invalid_input', 'unsafe_argument', 'usage']).toContain(err.code);
    }
  });
});
