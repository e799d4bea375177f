import { describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import { temporalConnectError, temporalCredentialsRefusal } from './temporal-connection.ts';

/** The shapes seen from a frontend refusing the key (test/temporal-agents.test.ts runs them for real). */
const grpcJs = Object.assign(new Error('Failed to connect to Temporal server'), {
  cause: Object.assign(new Error('16 UNAUTHENTICATED: invalid API key'), { code: 16, details: 'invalid API key' }),
});
const native = new Error('Failed to call GetSystemInfo: code: \'The request does not have valid authentication credentials\', message: "invalid API key"');

describe('temporalCredentialsRefusal', () => {
  it.each([
    ['the client (grpc-js), wrapped by Connection.connect', grpcJs, 'UNAUTHENTICATED: invalid API key'],
    ['a worker (native connection)', native, 'UNAUTHENTICATED: invalid API key'],
    ['permission denied', Object.assign(new Error('7 PERMISSION_DENIED: namespace'), { code: 7, details: 'namespace' }), 'PERMISSION_DENIED: namespace'],
    ['a server that is down', Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14 }), undefined],
    ['a TLS failure', new Error('Failed to call GetSystemInfo: code: \'The service is currently unavailable\', message: "tls handshake"'), undefined],
  ])('%s', (_name, e, expected) => {
    expect(temporalCredentialsRefusal(e)).toBe(expected);
  });

  it('turns a refused key into one line saying which variable to check', () => {
    const config = loadConfig({ PLUM_HOME: '/nonexistent', PLUM_TEMPORAL_ADDRESS: '127.0.0.1:7233', PLUM_TEMPORAL_API_KEY: 'k' });
    const err = temporalConnectError(config, '127.0.0.1:7233', native);
    expect(err.code).toBe('unauthorized');
    expect(err.message).toBe('Temporal at 127.0.0.1:7233 refused the API key (UNAUTHENTICATED: invalid API key)');
    expect(err.hint).toMatch(/^check PLUM_TEMPORAL_API_KEY/);
  });
});
