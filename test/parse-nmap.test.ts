import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNmapString } from '../core/nmap/parse.ts';
import type { ParsedPort } from '../core/nmap/types.ts';
import { SMTP_BANNER, SSH_BANNER, TELNET_BANNER } from '../demo/perimeter/index.ts';
import { nmapLoopback, scanEach, startLab, type LoopbackLab } from './fixtures/nmap/capture.ts';

/*
 * Real nmap against real services on 127.0.0.0/8: the loopback perimeter
 * (http, https, ssh, ftp, smtp, telnet) and a web service whose every answer
 * carries new cookies, dates, request/trace ids, ETags and CSP nonces.
 */

let lab: LoopbackLab;

function portsOf(xmls: string[]): Map<string, ParsedPort> {
  const out = new Map<string, ParsedPort>();
  for (const xml of xmls) {
    const scan = parseNmapString(xml);
    expect(scan.error).toBeUndefined();
    expect(scan.run.finished).toBe(true);
    for (const h of scan.hosts) for (const p of h.ports) out.set(`${p.ip}:${p.port}`, p);
  }
  return out;
}

beforeAll(async () => {
  lab = await startLab();
}, 60_000);
afterAll(async () => {
  await lab?.close();
});

describe('fingerprints of real services scanned by real nmap', () => {
  let first: Map<string, ParsedPort>;
  let second: Map<string, ParsedPort>;

  beforeAll(async () => {
    first = portsOf(await scanEach(lab));
    await new Promise((r) => setTimeout(r, 1100)); // let the Date headers move
    second = portsOf(await scanEach(lab));
  }, 240_000);

  it('finds every service open', () => {
    for (const t of lab.targets) expect(first.get(`${t.ip}:${t.port}`)?.state, `${t.ip}:${t.port}`).toBe('open');
  });

  it('gives the same hsh256 to every unchanged service, although cookies, dates, ids, ETags and nonces changed', () => {
    const web = `${lab.web.ip}:${lab.web.port}`;
    const a = first.get(web)!.doc.scripts.find((s) => s.id === 'http-headers')!.output;
    const b = second.get(web)!.doc.scripts.find((s) => s.id === 'http-headers')!.output;
    expect(a).not.toBe(b); // the raw answers really differ
    for (const [key, p] of first) expect(second.get(key)?.hsh256, key).toBe(p.hsh256);
  });

  it('extracts the search fields', () => {
    const by = (name: string) => {
      const s = lab.perimeter.service(name);
      return first.get(`${s.ip}:${s.port}`)!.fields;
    };
    expect(by('https').http_title).toEqual([lab.perimeter.title()]);
    expect(by('https').x509_san).toEqual(expect.arrayContaining(lab.perimeter.certificateSans.map((s) => s.replace(/^(DNS|IP):/, ''))));
    expect(by('https').domain).toContain('plum.test');
    expect(by('http').http_cookiename).toEqual(expect.arrayContaining(['PHPSESSID', 'lang']));
    expect(by('http').http_favicon_mmhash).toHaveLength(1);
    expect(by('http').http_favicon_md5).toHaveLength(1);
    expect(by('smtp').banner).toContain(SMTP_BANNER);
    expect(by('ssh').banner).toContain(SSH_BANNER);
    expect(by('telnet').banner).toContain(TELNET_BANNER);
    const web = first.get(`${lab.web.ip}:${lab.web.port}`)!.fields;
    expect(web.http_title).toEqual(['Volatile Plum']);
    expect(web.http_server).toEqual(['Apache/2.4.58 (Debian)']);
    expect(web.http_header).toEqual(expect.arrayContaining(['set-cookie', 'etag', 'x-request-id', 'traceparent']));
  });

  it('gives another hsh256 when the title changes, and only there', async () => {
    lab.perimeter.setHttpTitle('Plum Test Perimeter - Changed');
    lab.web.setTitle('Volatile Plum v2');
    try {
      const third = portsOf(await scanEach(lab));
      const web = new Set([
        `${lab.web.ip}:${lab.web.port}`,
        ...['http', 'https'].map((n) => `${lab.perimeter.service(n).ip}:${lab.perimeter.service(n).port}`),
      ]);
      for (const [key, p] of first) {
        if (web.has(key)) expect(third.get(key)?.hsh256, key).not.toBe(p.hsh256);
        else expect(third.get(key)?.hsh256, key).toBe(p.hsh256);
      }
    } finally {
      lab.perimeter.setHttpTitle(first.get(`${lab.perimeter.service('https').ip}:${lab.perimeter.service('https').port}`)!.fields.http_title[0]!);
      lab.web.setTitle('Volatile Plum');
    }
  }, 120_000);

  it('does not depend on nmap verbosity (stock banner truncation)', async () => {
    const t = lab.perimeter.service('telnet');
    const quiet = portsOf([await nmapLoopback([t], ['banner'])]).get(`${t.ip}:${t.port}`)!;
    const verbose = portsOf([await nmapLoopback([t], ['banner'], ['-vv'])]).get(`${t.ip}:${t.port}`)!;
    const out = (p: ParsedPort) => p.doc.scripts.find((s) => s.id === 'banner')!.output;
    expect(out(quiet)).not.toBe(out(verbose)); // nmap really printed different text
    expect(verbose.hsh256).toBe(quiet.hsh256);
  }, 120_000);
});
