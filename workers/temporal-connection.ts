import { readFileSync } from 'node:fs';
import type { PlumConfig } from '../core/config.ts';
import { PlumError } from '../core/errors.ts';

/*
 * How every Plum process (client, server worker, agent) connects to the
 * Temporal frontend: address, TLS (server CA, client certificate for mTLS,
 * server name) and API key, all from the one config schema. The options have
 * the shape both Connection (client) and NativeConnection (workers) accept.
 */

export type TemporalConnectionConfig = Pick<PlumConfig,
  'PLUM_TEMPORAL_ADDRESS' | 'PLUM_TEMPORAL_TLS' | 'PLUM_TEMPORAL_TLS_CA' | 'PLUM_TEMPORAL_TLS_CERT' | 'PLUM_TEMPORAL_TLS_KEY'
  | 'PLUM_TEMPORAL_TLS_SERVER_NAME' | 'PLUM_TEMPORAL_API_KEY'>;

export interface TemporalConnectOptions {
  address: string;
  tls?: {
    serverNameOverride?: string;
    serverRootCACertificate?: Buffer;
    clientCertPair?: { crt: Buffer; key: Buffer };
  };
  apiKey?: string;
}

function readPem(file: string, variable: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new PlumError('usage', `cannot read ${variable} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      hint: `point ${variable} at a readable PEM file`,
    });
  }
}

/** True when the connection to Temporal uses TLS (asked for, or implied by a CA, a client certificate or an API key). */
export function temporalUsesTls(config: TemporalConnectionConfig): boolean {
  return Boolean(config.PLUM_TEMPORAL_TLS || config.PLUM_TEMPORAL_TLS_CA || config.PLUM_TEMPORAL_TLS_CERT
    || config.PLUM_TEMPORAL_TLS_SERVER_NAME || config.PLUM_TEMPORAL_API_KEY);
}

/** Connection options for `address` (default PLUM_TEMPORAL_ADDRESS); reads the PEM files. */
export function temporalConnectOptions(config: TemporalConnectionConfig, address = config.PLUM_TEMPORAL_ADDRESS): TemporalConnectOptions {
  if (!address) {
    throw new PlumError('usage', 'no Temporal address configured', { hint: 'set PLUM_TEMPORAL_ADDRESS=HOST:PORT or pass --temporal-address' });
  }
  const opts: TemporalConnectOptions = { address };
  if (temporalUsesTls(config)) {
    opts.tls = {
      ...(config.PLUM_TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: config.PLUM_TEMPORAL_TLS_SERVER_NAME } : {}),
      ...(config.PLUM_TEMPORAL_TLS_CA ? { serverRootCACertificate: readPem(config.PLUM_TEMPORAL_TLS_CA, 'PLUM_TEMPORAL_TLS_CA') } : {}),
      ...(config.PLUM_TEMPORAL_TLS_CERT && config.PLUM_TEMPORAL_TLS_KEY ? {
        clientCertPair: {
          crt: readPem(config.PLUM_TEMPORAL_TLS_CERT, 'PLUM_TEMPORAL_TLS_CERT'),
          key: readPem(config.PLUM_TEMPORAL_TLS_KEY, 'PLUM_TEMPORAL_TLS_KEY'),
        },
      } : {}),
    };
  }
  if (config.PLUM_TEMPORAL_API_KEY) opts.apiKey = config.PLUM_TEMPORAL_API_KEY;
  return opts;
}

/** One line for a failed connection, saying what to check. */
export function temporalConnectError(config: TemporalConnectionConfig, address: string, e: unknown): PlumError {
  const raw = ((e as Error)?.message ?? String(e)).split('\n')[0]!.trim();
  const tls = temporalUsesTls(config);
  return new PlumError('unavailable', `cannot reach Temporal at ${address}${tls ? ' over TLS' : ''}: ${raw}`, {
    hint: tls
      ? 'check the address, that the frontend serves TLS, and PLUM_TEMPORAL_TLS_CA / _CERT / _KEY / _SERVER_NAME'
      : 'check the address and that the Temporal frontend is running (docs/distributed.md)',
  });
}
