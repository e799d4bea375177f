import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import { PlumError, type ErrorCode } from '../core/errors.ts';
import type { ApiEnv } from './context.ts';

/**
 * The one error body of the API: `{error:{code,message,requestId}}`. PlumErrors
 * are translated here and only here; anything else becomes a 500 `internal`
 * whose message never carries a stack or driver detail (those go to the log).
 */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; requestId: string; hint?: string; details?: Record<string, unknown> };
}

export function errorBody(err: PlumError, requestId: string): ErrorBody {
  const body: ErrorBody = { error: { code: err.code, message: err.message, requestId } };
  if (err.hint) body.error.hint = err.hint;
  if (err.details) body.error.details = err.details;
  return body;
}

const STATUS_CODES: Partial<Record<number, ErrorCode>> = {
  400: 'invalid_input',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'invalid_input',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'invalid_input',
  422: 'invalid_input',
  429: 'rate_limited',
  503: 'unavailable',
};

/** Converts what a handler or middleware threw into a PlumError safe to show. */
export function toApiError(e: unknown): { err: PlumError; internal: boolean } {
  if (e instanceof PlumError) {
    // Database and internal failures keep their detail in the log only.
    if (e.code === 'internal' || e.code === 'database') {
      return {
        err: new PlumError(e.code, e.code === 'database' ? 'database error' : 'internal error', { hint: 'retry later; the server log has the details' }),
        internal: true,
      };
    }
    // The CLI's usage errors are plain bad input over HTTP.
    if (e.code === 'usage') return { err: new PlumError('invalid_input', e.message, { hint: e.hint, details: e.details }), internal: false };
    return { err: e, internal: false };
  }
  if (e instanceof HTTPException) {
    const code = STATUS_CODES[e.status] ?? 'internal';
    const message = e.status === 400 && /json/i.test(e.message) ? 'the request body is not valid JSON' : e.message || code;
    return {
      err: new PlumError(code, message, { hint: code === 'invalid_input' ? 'send a valid JSON body with Content-Type: application/json' : undefined }),
      internal: code === 'internal',
    };
  }
  return { err: new PlumError('internal', 'internal error', { hint: 'retry later; the server log has the details' }), internal: true };
}

export function respondError(c: Context<ApiEnv>, err: PlumError): Response {
  const requestId = c.get('requestId') ?? 'unknown';
  const res = c.json(errorBody(err, requestId), err.httpStatus as ContentfulStatusCode);
  if (err.code === 'unauthorized') res.headers.set('WWW-Authenticate', 'Bearer realm="plum"');
  // The rest of an oversized body is never read: tell the client not to reuse the connection.
  if (err.code === 'payload_too_large') res.headers.set('Connection', 'close');
  return res;
}

const TARGET_NAMES: Record<string, string> = { json: 'body', query: 'query', param: 'path', header: 'header', form: 'form', cookie: 'cookie' };

/** One readable line from a zod failure: where, which field, what is wrong. */
export function validationError(target: string, error: ZodError): PlumError {
  const issue = error.issues[0]!;
  const where = TARGET_NAMES[target] ?? target;
  const field = issue.path.length ? issue.path.map(String).join('.') : undefined;
  const message = field ? `invalid ${where} field "${field}": ${issue.message}` : `invalid ${where}: ${issue.message}`;
  return new PlumError('invalid_input', message, {
    hint: 'see /openapi.json for the expected shape',
    details: { target: where, issues: error.issues.map((i) => ({ path: i.path.map(String), message: i.message })) },
  });
}
