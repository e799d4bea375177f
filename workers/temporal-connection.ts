import { readFileSync } from 'node:fs';
import type { PlumConfig } from '../core/config.ts';
import { PlumError } from '../core/errors.ts';

/*
 * How every Plum process (client, server worker, agent) connects to the
 * Temporal frontend: address, TLS (server CA, client certificate for mTLS,
 * server name) and API key, all from the one config schema. The options have
 * the shape both Connection (client) and NativeConnection (workers) accept.
 */

export type TemporalConnectionConfig = Pick<
  PlumConfig,
  | 'PLUM_TEMPORAL_ADDRESS'
  | 'PLUM_TEMPORAL_TLS'
  | 'PLUM_TEMPORAL_TLS_CA'
  | 'PLUM_TEMPORAL_TLS_CERT'
  | 'PLUM_TEMPORAL_TLS_KEY'
  | 'PLUM_TEMPORAL_TLS_SERVER_NAME'
  | 'PLUM_TEMPORAL_API_KEY'
>;

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
  return Boolean(
    config.PLUM_TEMPORAL_TLS ||
    config.PLUM_TEMPORAL_TLS_CA ||
    config.PLUM_TEMPORAL_TLS_CERT ||
    config.PLUM_TEMPORAL_TLS_SERVER_NAME ||
    config.PLUM_TEMPORAL_API_KEY,
  );
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
      ...(config.PLUM_TEMPORAL_TLS_CERT && config.PLUM_TEMPORAL_TLS_KEY
        ? {
            clientCertPair: {
              crt: readPem(config.PLUM_TEMPORAL_TLS_CERT, 'PLUM_TEMPORAL_TLS_CERT'),
              key: readPem(config.PLUM_TEMPORAL_TLS_KEY, 'PLUM_TEMPORAL_TLS_KEY'),
            },
          }
        : {}),
    };
  }
  if (config.PLUM_TEMPORAL_API_KEY) opts.apiKey = config.PLUM_TEMPORAL_API_KEY;
  return opts;
}

const GRPC_REFUSALS: Record<number, string> = { 16: 'UNAUTHENTICATED', 7: 'PERMISSION_DENIED' };
const NATIVE_REFUSALS: Record<string, string> = {
  'The request does not have valid authentication credentials': 'UNAUTHENTICATED',
  'The caller does not have permission to execute the specified operation': 'PERMISSION_DENIED',
};

/**
 * `STATUS: detail` when the frontend refused the connection's credentials (gRPC UNAUTHENTICATED or
 * PERMISSION_DENIED) anywhere in the error's cause chain, else undefined. The SDK wraps the refusal
 * of its first call in "Failed to connect to Temporal server".
 */
export function temporalCredentialsRefusal(e: unknown): string | undefined {
  for (
    let err = e as { code?: unknown; details?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0;
    err && depth < 5;
    err = err.cause as typeof err, depth++
  ) {
    const status = typeof err.code === 'number' ? GRPC_REFUSALS[err.code] : undefined;
    if (status)
      return `${status}: ${String(err.details ?? err.message ?? '')
        .split('\n')[0]!
        .trim()}`;
    // The native (Rust) connection of workers gives the status as its description: `code: '…', message: "…"`.
    const m = /code: '([^']*)', message: "([^"]*)"/.exec(String(err.message ?? ''));
    const native = m ? NATIVE_REFUSALS[m[1]!] : undefined;
    if (native) return `${native}: ${m![2]}`;
  }
  return undefined;
}

/** What to say about a refused API key or client certificate, and what to check. */
export function temporalRefusal(config: TemporalConnectionConfig, address: string, refusal: string): { message: string; hint: string } {
  return config.PLUM_TEMPORAL_API_KEY
    ? {
        message: `Temporal at ${address} refused the API key (${refusal})`,
        hint: 'check PLUM_TEMPORAL_API_KEY: a key of this namespace, not expired or revoked',
      }
    : {
        message: `Temporal at ${address} refused the connection (${refusal})`,
        hint: 'check its credentials: PLUM_TEMPORAL_TLS_CERT / _KEY, or PLUM_TEMPORAL_API_KEY',
      };
}

/** One line for a failed connection, saying what to check. */
export function temporalConnectError(config: TemporalConnectionConfig, address: string, e: unknown): PlumError {
  const refusal = temporalCredentialsRefusal(e);
  if (refusal) {
    const { message, hint } = temporalRefusal(config, address, refusal);
    return new PlumError('unauthorized', message, { hint });
  }
  const raw = ((e as Error)?.message ?? String(e)).split('\n')[0]!.trim();
  const tls = temporalUsesTls(config);
  return new PlumError('unavailable', `cannot reach Temporal at ${address}${tls ? ' over TLS' : ''}: ${raw}`, {
    hint: tls
      ? 'check the address, that the frontend serves TLS, and PLUM_TEMPORAL_TLS_CA / _CERT / _KEY / _SERVER_NAME'
      : 'check the address and that the Temporal frontend is running (docs/distributed.md)',
  });
}
