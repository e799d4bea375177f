import { HTTPException } from 'hono/http-exception';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PlumError } from '../core/errors.ts';
import { errorBody, toApiError, validationError } from './errors.ts';

describe('API error translation', () => {
  it('keeps PlumErrors that describe the input, with hint and details', () => {
    const { err, internal } = toApiError(new PlumError('out_of_scope', 'refused, out of scope: 8.8.8.8', { hint: 'add it', details: { offending: [1] } }));
    expect(internal).toBe(false);
    expect(errorBody(err, 'req-1')).toEqual({
      error: { code: 'out_of_scope', message: 'refused, out of scope: 8.8.8.8', requestId: 'req-1', hint: 'add it', details: { offending: [1] } },
    });
    expect(err.httpStatus).toBe(422);
  });

  it('turns CLI usage errors into invalid_input', () => {
    const { err } = toApiError(new PlumError('usage', 'invalid cursor', { hint: 'pass nextCursor' }));
    expect([err.code, err.message, err.hint, err.httpStatus]).toEqual(['invalid_input', 'invalid cursor', 'pass nextCursor', 400]);
  });

  it('never leaks the message of internal, database or unknown errors', () => {
    for (const e of [
      new Error('at Object.<anonymous> (/work/main/x.ts:1:1) password=secret'),
      new PlumError('database', 'relation "x" does not exist'),
      new PlumError('internal', 'boom'),
      'a string',
    ]) {
      const { err, internal } = toApiError(e);
      expect(internal).toBe(true);
      expect(err.message).toMatch(/^(internal error|database error)$/);
      expect(JSON.stringify(errorBody(err, 'r'))).not.toMatch(/secret|relation|boom|x\.ts/);
    }
  });

  it('maps Hono HTTP exceptions by status', () => {
    expect(toApiError(new HTTPException(400, { message: 'Malformed JSON in request body' })).err.message).toBe('the request body is not valid JSON');
    expect(toApiError(new HTTPException(413, { message: 'too big' })).err.code).toBe('payload_too_large');
    expect(toApiError(new HTTPException(401, { message: 'no' })).err.code).toBe('unauthorized');
  });

  it('names the field and the target of a validation failure', () => {
    const r = z.object({ a: z.object({ b: z.number() }) }).safeParse({ a: { b: 'x' } });
    expect(r.success).toBe(false);
    const e = validationError('json', r.error!);
    expect(e.message).toBe('invalid body field "a.b": Invalid input: expected number, received string');
    expect(e.details).toMatchObject({ target: 'body' });
    const q = z.object({}).strict().safeParse({ x: 1 });
    expect(validationError('query', q.error!).message).toBe('invalid query: Unrecognized key: "x"');
  });
});
