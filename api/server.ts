import { serve, type ServerType } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { PlumError } from '../core/errors.ts';
import { createApp } from './app.ts';
import type { ApiDeps } from './context.ts';

export interface RunningServer {
  url: string;
  port: number;
  host: string;
  close(): Promise<void>;
}

/** Starts the API on host:port (port 0 picks a free one). */
export async function startServer(deps: ApiDeps, opts: { host: string; port: number }): Promise<RunningServer> {
  const app = createApp(deps);
  const server = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: opts.host, port: opts.port }, () => resolve(s));
    s.once('error', (e: NodeJS.ErrnoException) => {
      reject(
        new PlumError('usage', `cannot listen on ${opts.host}:${opts.port}: ${e.code ?? e.message}`, {
          hint: e.code === 'EADDRINUSE' ? 'choose another --port, or stop the process using it' : 'check --host and --port',
        }),
      );
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    host: addr.address,
    close: () =>
      new Promise<void>((resolve) => {
        // SSE streams hold connections open: end them so close() does not wait forever.
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
