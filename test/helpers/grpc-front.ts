import fs from 'node:fs/promises';
import http2 from 'node:http2';
import type net from 'node:net';
import type { TestPki } from './tls-proxy.ts';

/*
 * A gRPC front for the dev server on loopback that reads the calls: HTTP/2
 * over TLS (Plum implies TLS with an API key, like the SDK), each stream
 * forwarded to the plain-text dev server with its headers, data and trailers.
 * It records every call's method path and `authorization` metadata, and can
 * refuse calls without the right API key the way a frontend that checks keys
 * does (gRPC status UNAUTHENTICATED, trailers only).
 */

export interface GrpcCall {
  path: string;
  authorization?: string;
}

export interface GrpcFront {
  address: string;
  calls: GrpcCall[];
  close(): Promise<void>;
}

const UNAUTHENTICATED = '16';

export async function startGrpcFront(pki: TestPki, target: string, opts: { requireKey?: string } = {}): Promise<GrpcFront> {
  const calls: GrpcCall[] = [];
  const upstream = http2.connect(`http://${target}`);
  upstream.on('error', () => undefined);
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createSecureServer({ key: await fs.readFile(pki.serverKey), cert: await fs.readFile(pki.serverPem) });
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    const authorization = typeof headers.authorization === 'string' ? headers.authorization : undefined;
    calls.push({ path, ...(authorization !== undefined ? { authorization } : {}) });
    stream.on('error', () => undefined);
    if (opts.requireKey !== undefined && authorization !== `Bearer ${opts.requireKey}`) {
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': UNAUTHENTICATED, 'grpc-message': 'invalid API key' },
        { endStream: true },
      );
      return;
    }
    const forward: http2.OutgoingHttpHeaders = { ':method': headers[':method'], ':path': path, ':scheme': 'http', ':authority': target };
    for (const [k, v] of Object.entries(headers)) if (!k.startsWith(':')) forward[k] = v;
    const req = upstream.request(forward);
    let trailers: http2.IncomingHttpHeaders = {};
    req.on('error', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
    stream.on('close', () => {
      if (!req.closed) req.close(http2.constants.NGHTTP2_CANCEL);
    });
    req.on('trailers', (t) => {
      trailers = t;
    });
    req.on('response', (h) => {
      const out: http2.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(h)) if (k === ':status' || !k.startsWith(':')) out[k] = v;
      if (h['grpc-status'] !== undefined) {
        // Trailers-only answer (an error): the status is in the headers.
        stream.respond(out, { endStream: true });
        return;
      }
      stream.respond(out, { waitForTrailers: true });
      stream.on('wantTrailers', () => {
        const t: http2.OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(trailers)) if (!k.startsWith(':')) t[k] = v;
        stream.sendTrailers(t);
      });
      req.pipe(stream);
    });
    stream.pipe(req);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        upstream.destroy();
        server.close(() => resolve());
      }),
  };
}
