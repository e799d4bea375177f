import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FTP_BANNER, HTTP_SERVER_HEADER, SMTP_BANNER, SSH_BANNER, startPerimeter, type Perimeter } from '../demo/perimeter/index.ts';

/** The loopback perimeter itself, spoken to with plain Node clients (no nmap). */

function readGreeting(ip: string, port: number, send?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: ip, port });
    let data = '';
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      data += d;
      if (send && data.includes('\n') && !data.includes('\n2')) {
        sock.write(send);
        send = undefined;
      }
    });
    sock.setTimeout(1500, () => {
      sock.destroy();
      resolve(data);
    });
    sock.on('end', () => resolve(data));
    sock.on('error', reject);
  });
}

describe('the loopback test perimeter', () => {
  let a: Perimeter;
  let b: Perimeter;
  beforeAll(async () => {
    // Two perimeters at once (as parallel test files do), one on high ports.
    [a, b] = await Promise.all([startPerimeter({ title: 'First' }), startPerimeter({ standardPorts: false })]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  it('lives inside 127.0.0.0/8, one address per service', async () => {
    for (const p of [a, b]) {
      expect(p.prefix).toMatch(/^127\.\d+\.\d+$/);
      expect(new Set(p.services.map((s) => s.ip)).size).toBe(p.services.length);
      for (const s of p.services) expect(s.ip.startsWith(`${p.prefix}.`)).toBe(true);
    }
    expect(a.prefix).not.toBe(b.prefix);
    expect(b.services.map((s) => s.port)).toEqual([8080, 8443, 2222, 2121, 2525, 2323]);
    await expect(startPerimeter({ prefix: '10.0.0' })).rejects.toThrow(/inside 127\.0\.0\.0\/8/);
  });

  it('serves a realistic web page with cookies, ETag, favicon and a changeable title', async () => {
    const http = a.service('http');
    const base = `http://${http.ip}:${http.port}`;
    const res = await fetch(`${base}/`);
    expect(res.headers.get('server')).toBe(HTTP_SERVER_HEADER);
    expect(res.headers.get('set-cookie')).toMatch(/PHPSESSID=[0-9a-f]+; path=\/; HttpOnly/);
    const etag = res.headers.get('etag');
    expect(etag).toMatch(/^"[0-9a-f]{20}"$/);
    expect(await res.text()).toContain('<title>First</title>');
    const fav = await fetch(`${base}${a.faviconPath}`);
    expect(Buffer.from(await fav.arrayBuffer())).toEqual(a.favicon);
    a.setHttpTitle('Second <b>');
    const again = await fetch(`${base}/`);
    expect(await again.text()).toContain('<title>Second &lt;b></title>');
    expect(again.headers.get('etag')).not.toBe(etag);
    expect((await fetch(`${base}/missing`)).status).toBe(404);
  });

  it('serves TLS with a self-signed certificate carrying SANs', async () => {
    const s = b.service('https');
    const cert = await new Promise<tls.PeerCertificate>((resolve, reject) => {
      const sock = tls.connect({ host: s.ip, port: s.port, rejectUnauthorized: false, servername: 'www.perimeter.plum.test' }, () => {
        resolve(sock.getPeerCertificate());
        sock.end();
      });
      sock.on('error', reject);
    });
    expect(cert.subject.CN).toBe('perimeter.plum.test');
    expect(cert.subjectaltname).toBe(`DNS:perimeter.plum.test, DNS:www.perimeter.plum.test, IP Address:${s.ip}`);
  });

  it('greets like SSH, FTP and SMTP servers', async () => {
    expect(await readGreeting(a.service('ssh').ip, a.service('ssh').port)).toBe(`${SSH_BANNER}\r\n`);
    expect(await readGreeting(b.service('ftp').ip, b.service('ftp').port, 'USER anonymous\r\n')).toBe(`${FTP_BANNER}\r\n331 Please specify the password.\r\n`);
    expect(await readGreeting(a.service('smtp').ip, a.service('smtp').port, 'QUIT\r\n')).toBe(`${SMTP_BANNER}\r\n`);
  });

  it('stops and restarts single services', async () => {
    const ssh = b.service('ssh');
    await b.stopService('ssh');
    await expect(readGreeting(ssh.ip, ssh.port)).rejects.toThrow(/ECONNREFUSED/);
    await b.startService('ssh');
    expect(await readGreeting(ssh.ip, ssh.port)).toBe(`${SSH_BANNER}\r\n`);
    await expect(b.stopService('nope')).rejects.toThrow(/no perimeter service named "nope"/);
  });
});
