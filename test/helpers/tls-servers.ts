import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';

/*
 * TLS servers on 127.0.0.1 for the TLS scanner's tests: Node's `tls` with certificates made by openssl.
 * `modern` accepts TLS 1.2 and 1.3 (Node's defaults); `legacy` also accepts TLS 1.0 and 1.1, CBC-SHA1
 * suites and finite-field DH with 1024-bit parameters, at OpenSSL security level 0 (Node's OpenSSL has no
 * 3DES, RC4, NULL or anonymous suites to offer).
 */

const run = promisify(execFile);

export interface TestCertificate {
  key: string;
  cert: string;
}

/** A self-signed certificate (RSA of `bits`, SHA-256 unless `sha1`), valid from now for `days` days. */
export async function makeCertificate(opts: { cn: string; sans?: string[]; bits?: number; sha1?: boolean; days?: number }): Promise<TestCertificate> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'plum-tls-cert-'));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    `rsa:${opts.bits ?? 2048}`,
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    String(opts.days ?? 30),
    opts.sha1 ? '-sha1' : '-sha256',
    '-subj',
    `/CN=${opts.cn}/O=Plum test`,
    ...(opts.sans?.length ? ['-addext', `subjectAltName=${opts.sans.map((s) => `DNS:${s}`).join(',')}`] : []),
  ]);
  return { key: await readFile(key, 'utf8'), cert: await readFile(cert, 'utf8') };
}

let dhParams: Promise<string> | undefined;
async function dh1024(): Promise<string> {
  dhParams ??= (async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'plum-tls-dh-'));
    const file = path.join(dir, 'dh.pem');
    await run('openssl', ['dhparam', '-out', file, '1024']);
    return readFile(file, 'utf8');
  })();
  return dhParams;
}

export interface TestTlsServer {
  port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (`port`, or a free one). */
export async function startTlsServer(opts: { certificate: TestCertificate; legacy?: boolean; port?: number }): Promise<TestTlsServer> {
  const options: tls.TlsOptions = { key: opts.certificate.key, cert: opts.certificate.cert };
  if (opts.legacy) {
    Object.assign(options, {
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.2',
      dhparam: await dh1024(),
      ciphers: 'DHE-RSA-AES128-SHA:AES128-SHA:AES256-SHA:@SECLEVEL=0',
    });
  }
  const sockets = new Set<import('node:net').Socket>();
  const server = tls.createServer(options, (s) => s.end('hello\n'));
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  // sslscan's probes end handshakes abruptly: not the test's concern.
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as import('node:net').AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
