/**
 * Typed errors. Every boundary (CLI, HTTP, activities) translates these once:
 * the CLI prints `plum: <message>` and exits with `exitCode`; the HTTP layer maps
 * `httpStatus`/`code` into `{error:{code,message,requestId}}`; activities map
 * `retryable` to Temporal's retryable / non-retryable failures.
 */
export type ErrorCode =
  | 'usage'
  | 'invalid_input'
  | 'syntax'
  | 'not_found'
  | 'conflict'
  | 'out_of_scope'
  | 'unsafe_argument'
  | 'parse_error'
  | 'truncated'
  | 'database'
  | 'locked'
  | 'nmap_failed'
  /** A scanner other than nmap (masscan…) failed. */
  | 'scanner_failed'
  | 'timeout'
  | 'cancelled'
  | 'unauthorized'
  | 'forbidden'
  | 'payload_too_large'
  | 'rate_limited'
  | 'unavailable'
  | 'internal';

const HTTP_STATUS: Record<ErrorCode, number> = {
  usage: 400,
  invalid_input: 400,
  syntax: 400,
  not_found: 404,
  conflict: 409,
  out_of_scope: 422,
  unsafe_argument: 422,
  parse_error: 422,
  truncated: 422,
  database: 500,
  locked: 503,
  nmap_failed: 502,
  scanner_failed: 502,
  timeout: 504,
  cancelled: 499,
  unauthorized: 401,
  forbidden: 403,
  payload_too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

/** True for a string that is one of the codes (e.g. the type of a Temporal ApplicationFailure). */
export function isErrorCode(v: string): v is ErrorCode {
  return Object.hasOwn(HTTP_STATUS, v);
}

/** Codes whose cause is the input itself: retrying cannot help. */
const NON_RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'usage',
  'invalid_input',
  'syntax',
  'not_found',
  'conflict',
  'out_of_scope',
  'unsafe_argument',
  'parse_error',
  'unauthorized',
  'forbidden',
  'payload_too_large',
  'cancelled',
]);

export interface PlumErrorOptions {
  /** What the user should do next; appended to the one-line CLI message. */
  hint?: string;
  cause?: unknown;
  /** Extra structured data (offending targets, position of a syntax error...). */
  details?: Record<string, unknown>;
}

export class PlumError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: PlumErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PlumError';
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
  }

  get httpStatus(): number {
    return HTTP_STATUS[this.code];
  }

  get retryable(): boolean {
    return !NON_RETRYABLE.has(this.code);
  }

  /** Exit code for the CLI: 2 for usage and syntax errors, 130 for a cancelled run (as after Ctrl-C), 1 otherwise. */
  get exitCode(): number {
    if (this.code === 'cancelled') return 130;
    return this.code === 'usage' || this.code === 'syntax' ? 2 : 1;
  }

  /** One line: the message, then the hint. */
  oneLine(): string {
    const msg = this.message.replace(/\s*\n\s*/g, ' ');
    return this.hint ? `${msg} (${this.hint})` : msg;
  }
}

export const usageError = (message: string, hint?: string) => new PlumError('usage', message, { hint });
export const invalidInput = (message: string, hint?: string, details?: Record<string, unknown>) => new PlumError('invalid_input', message, { hint, details });
export const notFound = (message: string, hint?: string) => new PlumError('not_found', message, { hint });

export function isPlumError(e: unknown): e is PlumError {
  return e instanceof PlumError;
}

/** Normalises anything thrown into a PlumError without losing the original as `cause`. */
export function toPlumError(e: unknown): PlumError {
  if (e instanceof PlumError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new PlumError('internal', message, { cause: e });
}
