import { DefaultLogger, NativeConnection, Runtime, type LogLevel } from '@temporalio/worker';
import type { PlumConfig } from '../core/config.ts';
import type { Logger } from '../core/log.ts';
import { temporalConnectError, temporalConnectOptions } from './temporal-connection.ts';

/*
 * The Temporal SDK's own log (worker state, the workflow bundler, task
 * failures) goes through Plum's logger at PLUM_LOG_LEVEL, so a worker or an
 * agent is as quiet as the rest of Plum and its errors are JSON lines like
 * Plum's. Installed once per process, before the first connection.
 */

const LEVELS: Record<PlumConfig['PLUM_LOG_LEVEL'], LogLevel> = {
  fatal: 'ERROR',
  error: 'ERROR',
  warn: 'WARN',
  info: 'INFO',
  debug: 'DEBUG',
  trace: 'TRACE',
  silent: 'ERROR',
};

let installed = false;

export function installTemporalRuntime(config: Pick<PlumConfig, 'PLUM_LOG_LEVEL'>, log: Logger): void {
  if (installed) return;
  installed = true;
  const silent = config.PLUM_LOG_LEVEL === 'silent';
  Runtime.install({
    logger: new DefaultLogger(LEVELS[config.PLUM_LOG_LEVEL], (entry) => {
      if (silent) return;
      const meta = { ...entry.meta, temporal: true };
      const msg = entry.message;
      switch (entry.level) {
        case 'ERROR':
          log.error(meta, msg);
          break;
        case 'WARN':
          log.warn(meta, msg);
          break;
        case 'INFO':
          log.info(meta, msg);
          break;
        default:
          log.debug(meta, msg);
      }
    }),
  });
}

/** A worker connection from the config (address, TLS, API key); one line when it fails. */
export async function connectWorker(config: PlumConfig, log: Logger, address = config.PLUM_TEMPORAL_ADDRESS): Promise<NativeConnection> {
  const options = temporalConnectOptions(config, address);
  installTemporalRuntime(config, log);
  try {
    return await NativeConnection.connect(options);
  } catch (e) {
    throw temporalConnectError(config, options.address, e);
  }
}
