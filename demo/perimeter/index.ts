import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * The loopback test perimeter: real services on several 127.0.0.0/8
 * addresses, for tests and for a person trying Plum. Nothing here listens
 * outside 127.0.0.0/8.
 *
 * Each perimeter takes its own /24 inside 127.0.0.0/8 (random unless given),
 * so several test files or helpers can run perimeters at once without port clashes.
 */
export type ServiceKind = 'http' | 'https' | 'ssh' | 'ftp' | 'smtp' | 'telnet';

export interface PerimeterService {
  name: string;
  ip: string;
  port: number;
  kind: ServiceKind;
}

export interface PerimeterOptions {
  /** First three octets, e.g. `127.77.3`; must be inside 127.0.0.0/8. Random by default. */
  prefix?: string;
  /** Standard ports (80, 443, 22, 21, 25, 23) — needs root; default: standard when root, else 8080/8443/2222/2121/2525/2323. */
  standardPorts?: boolean;
  /** Initial HTML title of the web services. */
  title?: string;
}

export interface Perimeter {
  prefix: string;
  services: PerimeterService[];
  /** Base domain the certificate and SMTP greeting use. */
  domain: string;
  /** The favicon bytes every web service serves. */
  favicon: Buffer;
  faviconPath: string;
  /** The HTTPS certificate in PEM and its SANs. */
  certificatePem: string;
  certificateSans: string[];
  title(): string;
  /** Changes the HTML title of the HTTP and HTTPS services (simulates a change). */
  setHttpTitle(title: string): void;
  service(name: string): PerimeterService;
  stopService(name: string): Promise<void>;
  startService(name: string): Promise<void>;
  close(): Promise<void>;
}

export const PERIMETER_DOMAIN = 'perimeter.plum.test';
export const HTTP_SERVER_HEADER = 'nginx/1.18.0 (Ubuntu)';
export const SSH_BANNER = 'SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6';
export const FTP_BANNER = '220 (vsFTPd 3.0.5)';
export const SMTP_BANNER = `220 mail.${PERIMETER_DOMAIN} ESMTP Postfix (Ubuntu)`;
/** A router-style login banner longer than nmap's stock banner truncation (63/135 characters). */
export const TELNET_BANNER_RAW =
  '\r\n\r\nUser Access Verification\r\n\r\nWARNING: Unauthorized access to this device is prohibited. ' +
  'All activity is logged and monitored by the Plum test perimeter operations team.\r\n\r\nUsername: ';
/** What plum-banner reports for it: CR LF as LF, surrounding white space trimmed. */
export const TELNET_BANNER = TELNET_BANNER_RAW.replace(/\r\n/g, '\n').trim();

const run = promisify(execFile);

/** A deterministic 16x16 32-bit ICO (1150 bytes): a plum-coloured square with a lighter diagonal. */
export function makeFavicon(): Buffer {
  const size = 16;
  const header = Buffer.alloc(6 + 16);
  header.writeUInt16LE(0, 0);
  header.writeUInt16LE(1, 2);
  header.writeUInt16LE(1, 4);
  const bmpHeader = Buffer.alloc(40);
  bmpHeader.writeUInt32LE(40, 0);
  bmpHeader.writeInt32LE(size, 4);
  bmpHeader.writeInt32LE(size * 2, 8);
  bmpHeader.writeUInt16LE(1, 12);
  bmpHeader.writeUInt16LE(32, 14);
  const pixels = Buffer.alloc(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const o = (y * size + x) * 4;
      const diag = x === y || x === y + 1;
      pixels[o] = diag ? 0xd8 : 0x80; // B
      pixels[o + 1] = diag ? 0xa0 : 0x20; // G
      pixels[o + 2] = diag ? 0xe0 : 0x8e; // R
      pixels[o + 3] = 0xff;
    }
  }
  const mask = Buffer.alloc(size * 4);
  const bytes = 40 + pixels.length + mask.length;
  header.writeUInt8(size, 6);
  header.writeUInt8(size, 7);
  header.writeUInt16LE(1, 10);
  header.writeUInt16LE(32, 12);
  header.writeUInt32LE(bytes, 14);
  header.writeUInt32LE(22, 18);
  return Buffer.concat([header, bmpHeader, pixels, mask]);
}

function assertLoopbackPrefix(prefix: string): void {
  const m = prefix.match(/^127\.(\d{1,3})\.(\d{1,3})$/);
  if (!m || Number(m[1]) > 255 || Number(m[2]) > 255) {
    throw new Error(`perimeter prefix "${prefix}" must be three octets inside 127.0.0.0/8, e.g. 127.77.3`);
  }
}

async function makeCertificate(sans: string[]): Promise<{ key: string; cert: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'plum-perimeter-'));
  try {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '825',
      '-sha256',
      '-subj',
      `/CN=${PERIMETER_DOMAIN}/O=Plum Test Perimeter/C=LU`,
      '-addext',
      `subjectAltName=${sans.join(',')}`,
    ]);
    return { key: await readFile(key, 'utf8'), cert: await readFile(cert, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface Running {
  server: net.Server;
  sockets: Set<net.Socket>;
}

/** Starts the perimeter; every service is listening when the promise resolves. */
export async function startPerimeter(opts: PerimeterOptions = {}): Promise<Perimeter> {
  const prefix = opts.prefix ?? `127.${64 + Math.floor(Math.random() * 190)}.${1 + Math.floor(Math.random() * 250)}`;
  assertLoopbackPrefix(prefix);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const standard = opts.standardPorts ?? isRoot;
  const port = (std: number, high: number) => (standard ? std : high);
  const services: PerimeterService[] = [
    { name: 'http', ip: `${prefix}.1`, port: port(80, 8080), kind: 'http' },
    { name: 'https', ip: `${prefix}.2`, port: port(443, 8443), kind: 'https' },
    { name: 'ssh', ip: `${prefix}.3`, port: port(22, 2222), kind: 'ssh' },
    { name: 'ftp', ip: `${prefix}.4`, port: port(21, 2121), kind: 'ftp' },
    { name: 'smtp', ip: `${prefix}.5`, port: port(25, 2525), kind: 'smtp' },
    { name: 'telnet', ip: `${prefix}.6`, port: port(23, 2323), kind: 'telnet' },
  ];
  const httpsIp = services[1]!.ip;
  const sans = [`DNS:${PERIMETER_DOMAIN}`, `DNS:www.${PERIMETER_DOMAIN}`, `IP:${httpsIp}`];
  const { key, cert } = await makeCertificate(sans);
  const favicon = makeFavicon();
  const faviconPath = '/static/favicon.ico';
  let title = opts.title ?? 'Plum Test Perimeter - Welcome';

  const page = () => `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${title.replace(/[<&]/g, (c) => (c === '<' ? '&lt;' : '&amp;'))}</title>
<link rel="icon" type="image/x-icon" href="${faviconPath}">
</head>
<body><h1>It works.</h1><p>This is a service of the Plum loopback test perimeter.</p></body>
</html>
`;

  const handler: http.RequestListener = (req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    res.setHeader('Server', HTTP_SERVER_HEADER);
    res.setHeader('X-Request-Id', randomUUID());
    if (url === faviconPath || url === '/favicon.ico') {
      res.writeHead(200, {
        'Content-Type': 'image/x-icon',
        'Content-Length': favicon.length,
        ETag: `"${createHash('md5').update(favicon).digest('hex').slice(0, 16)}"`,
        'Cache-Control': 'max-age=86400',
      });
      res.end(req.method === 'HEAD' ? undefined : favicon);
      return;
    }
    if (url === '/' || url === '/index.html') {
      const body = Buffer.from(page());
      res.writeHead(200, {
        'Content-Type': 'text/html; charset=UTF-8',
        'Content-Length': body.length,
        ETag: `"${createHash('sha1').update(body).digest('hex').slice(0, 20)}"`,
        'Set-Cookie': [`PHPSESSID=${randomBytes(13).toString('hex')}; path=/; HttpOnly`, 'lang=en; Path=/; SameSite=Lax'],
        'X-Frame-Options': 'SAMEORIGIN',
        'X-Content-Type-Options': 'nosniff',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const body = Buffer.from(
      '<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.18.0 (Ubuntu)</center>\r\n</body>\r\n</html>\r\n',
    );
    res.writeHead(404, { 'Content-Type': 'text/html', 'Content-Length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  /** Line-oriented banner services; `reply` answers one command line. */
  const lineServer = (greeting: string, reply: (line: string) => string | null) =>
    net.createServer((sock) => {
      sock.setTimeout(15_000, () => sock.destroy());
      sock.on('error', () => {});
      sock.write(`${greeting}\r\n`);
      let buf = '';
      sock.on('data', (d) => {
        buf += d.toString('latin1');
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i).replace(/\r$/, '');
          buf = buf.slice(i + 1);
          const out = reply(line);
          if (out === null) {
            sock.end();
            return;
          }
          sock.write(`${out}\r\n`);
        }
      });
    });

  const makeServer = (s: PerimeterService): net.Server => {
    switch (s.kind) {
      case 'http':
        return http.createServer(handler);
      case 'https':
        return https.createServer({ key, cert }, handler);
      case 'ssh':
        return net.createServer((sock) => {
          sock.on('error', () => {});
          sock.setTimeout(10_000, () => sock.destroy());
          sock.write(`${SSH_BANNER}\r\n`);
          // A client identification line gets the (truncated) protocol error a real server would send.
          sock.on('data', () => sock.end('Invalid SSH identification string.\r\n'));
        });
      case 'telnet':
        return net.createServer((sock) => {
          sock.on('error', () => {});
          sock.setTimeout(10_000, () => sock.destroy());
          sock.write(TELNET_BANNER_RAW);
          sock.on('data', () => sock.end('\r\n% Authentication failed\r\n'));
        });
      case 'ftp':
        return lineServer(FTP_BANNER, (line) => {
          const cmd = line.split(' ')[0]!.toUpperCase();
          if (cmd === 'QUIT') return null;
          if (cmd === 'USER') return '331 Please specify the password.';
          if (cmd === 'PASS') return '530 Login incorrect.';
          if (cmd === 'SYST') return '215 UNIX Type: L8';
          if (cmd === 'FEAT') return '211-Features:\r\n EPRT\r\n EPSV\r\n PASV\r\n UTF8\r\n211 End';
          return '530 Please login with USER and PASS.';
        });
      case 'smtp':
        return lineServer(SMTP_BANNER, (line) => {
          const cmd = line.split(' ')[0]!.toUpperCase();
          if (cmd === 'QUIT') return null;
          if (cmd === 'EHLO') return `250-mail.${PERIMETER_DOMAIN}\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250-8BITMIME\r\n250 SMTPUTF8`;
          if (cmd === 'HELO') return `250 mail.${PERIMETER_DOMAIN}`;
          if (cmd === 'NOOP' || cmd === 'RSET') return '250 2.0.0 Ok';
          return '502 5.5.2 Error: command not recognized';
        });
    }
  };

  const running = new Map<string, Running>();

  const start = async (s: PerimeterService) => {
    if (running.has(s.name)) return;
    const server = makeServer(s);
    const sockets = new Set<net.Socket>();
    server.on('connection', (sock: net.Socket) => {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
    });
    if (server instanceof https.Server) {
      server.on('secureConnection', (sock: net.Socket) => {
        sockets.add(sock);
        sock.on('close', () => sockets.delete(sock));
      });
      server.on('tlsClientError', () => {});
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: s.ip, port: s.port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    running.set(s.name, { server, sockets });
  };

  const stop = async (name: string) => {
    const r = running.get(name);
    if (!r) return;
    running.delete(name);
    for (const sock of r.sockets) sock.destroy();
    await new Promise<void>((resolve) => r.server.close(() => resolve()));
  };

  const byName = (name: string): PerimeterService => {
    const s = services.find((x) => x.name === name);
    if (!s) throw new Error(`no perimeter service named "${name}" (have ${services.map((x) => x.name).join(', ')})`);
    return s;
  };

  try {
    for (const s of services) await start(s);
  } catch (e) {
    for (const name of [...running.keys()]) await stop(name);
    throw e;
  }

  return {
    prefix,
    services,
    domain: PERIMETER_DOMAIN,
    favicon,
    faviconPath,
    certificatePem: cert,
    certificateSans: sans,
    title: () => title,
    setHttpTitle(t: string) {
      title = t;
    },
    service: byName,
    stopService: async (name) => stop(byName(name).name),
    startService: async (name) => start(byName(name)),
    close: async () => {
      for (const name of [...running.keys()]) await stop(name);
    },
  };
}
