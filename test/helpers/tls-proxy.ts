import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';

/*
 * A TLS front for a plain-text gRPC server on loopback, requiring client
 * certificates (mTLS): the dev server serves no TLS, so tests of Plum's TLS
 * settings put this in front of it. HTTP/2 is negotiated by ALPN and the
 * decrypted stream is passed through unchanged. Certificates come from a
 * throw-away CA made with openssl.
 */

const run = promisify(execFile);

export const TLS_SERVER_NAME = 'temporal.plum.test';

export interface TestPki {
  dir: string;
  caPem: string;
  serverPem: string;
  serverKey: string;
  clientPem: string;
  clientKey: string;
}

async function issue(dir: string, name: string, subject: string, ext: string): Promise<void> {
  const k = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const extFile = path.join(dir, `${name}.ext`);
  await fs.writeFile(extFile, `${ext}\n`);
  await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', k, '-out', csr, '-subj', subject]);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    path.join(dir, 'ca.pem'),
    '-CAkey',
    path.join(dir, 'ca.key'),
    '-CAcreateserial',
    '-out',
    path.join(dir, `${name}.pem`),
    '-days',
    '2',
    '-extfile',
    extFile,
  ]);
}

/** A CA, a server certificate for TLS_SERVER_NAME and a client certificate, in `dir`. */
export async function makeTestPki(dir: string): Promise<TestPki> {
  await fs.mkdir(dir, { recursive: true });
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    path.join(dir, 'ca.key'),
    '-out',
    path.join(dir, 'ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=Plum test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await issue(dir, 'server', `/CN=${TLS_SERVER_NAME}`, `subjectAltName=DNS:${TLS_SERVER_NAME}\nextendedKeyUsage=serverAuth`);
  await issue(dir, 'client', '/CN=plum-agent', 'extendedKeyUsage=clientAuth');
  return {
    dir,
    caPem: path.join(dir, 'ca.pem'),
    serverPem: path.join(dir, 'server.pem'),
    serverKey: path.join(dir, 'server.key'),
    clientPem: path.join(dir, 'client.pem'),
    clientKey: path.join(dir, 'client.key'),
  };
}

/** Listens on 127.0.0.1 (free port), terminates mTLS and forwards to `target` (HOST:PORT, plain text). */
export async function startTlsProxy(pki: TestPki, target: string): Promise<{ address: string; close(): Promise<void> }> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const sockets = new Set<net.Socket>();
  const server = tls.createServer(
    {
      key: await fs.readFile(pki.serverKey),
      cert: await fs.readFile(pki.serverPem),
      ca: await fs.readFile(pki.caPem),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
    },
    (client) => {
      const upstream = net.connect(port, host);
      sockets.add(client);
      sockets.add(upstream);
      const end = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
      client.pipe(upstream).pipe(client);
    },
  );
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port: own } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${own}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
