import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * How much of one value a log line carries. A log line is for a person: an
 * error that repeats a whole query and its parameters (a batch of 100,000
 * ports) once made a line of hundreds of megabytes; long strings, big arrays and objects and
 * deep nesting are cut, with a note of how much was left out.
 */
export const LOG_LIMITS = { stringChars: 4096, arrayItems: 50, objectKeys: 100, depth: 6, messageChars: 4096 };

function cutString(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}…(${s.length - max} more characters)`;
}

/** A copy of `value` small enough to log (see LOG_LIMITS); Errors become plain objects with their own fields. */
export function boundForLog(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'string') return cutString(value, LOG_LIMITS.stringChars);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[circular]';
  if (depth >= LOG_LIMITS.depth) return Array.isArray(value) ? `[array of ${value.length}]` : '[object]';
  seen.add(value);
  if (Array.isArray(value)) {
    const out = value.slice(0, LOG_LIMITS.arrayItems).map((v) => boundForLog(v, depth + 1, seen));
    if (value.length > LOG_LIMITS.arrayItems) out.push(`…(${value.length - LOG_LIMITS.arrayItems} more items)`);
    return out;
  }
  if (value instanceof Date) return value;
  if (ArrayBuffer.isView(value)) return `[${value.constructor.name} of ${value.byteLength} bytes]`;
  const out: Record<string, unknown> = {};
  if (value instanceof Error) {
    out.type = value.name;
    out.message = cutString(value.message, LOG_LIMITS.stringChars);
    if (value.stack) out.stack = cutString(value.stack, LOG_LIMITS.stringChars);
  }
  const keys = Object.keys(value);
  for (const k of keys.slice(0, LOG_LIMITS.objectKeys)) out[k] = boundForLog((value as Record<string, unknown>)[k], depth + 1, seen);
  if (value instanceof Error && value.cause !== undefined && !('cause' in out)) out.cause = boundForLog(value.cause, depth + 1, seen);
  if (keys.length > LOG_LIMITS.objectKeys) out['…'] = `${keys.length - LOG_LIMITS.objectKeys} more keys`;
  return out;
}

/** Logs go to standard error so standard output stays clean for `--format json`. */
export function createLogger(level: string, name = 'plum', destination: DestinationStream = pino.destination(2)): Logger {
  return pino(
    {
      name,
      level,
      formatters: { log: (obj) => boundForLog(obj) as Record<string, unknown> },
      hooks: {
        logMethod(args, method) {
          // The message itself (the string argument, and printf-style arguments after it).
          const bounded = args.map((a) => (typeof a === 'string' ? cutString(a, LOG_LIMITS.messageChars) : a)) as typeof args;
          return method.apply(this, bounded);
        },
      },
    },
    destination,
  );
}

/** A logger that drops everything (tests, library use). */
export const silentLogger: Logger = pino({ level: 'silent' });
