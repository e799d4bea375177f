import pino, { type Logger } from 'pino';

export type { Logger };

/** Logs go to standard error so standard output stays clean for `--format json`. */
export function createLogger(level: string, name = 'plum'): Logger {
  return pino({ name, level }, pino.destination(2));
}

/** A logger that drops everything (tests, library use). */
export const silentLogger: Logger = pino({ level: 'silent' });
