import type { MiddlewareHandler } from 'hono';
import { PlumError } from '../core/errors.ts';
import type { ApiEnv } from './context.ts';

/**
 * Text the database cannot hold is refused at the door: PostgreSQL text
 * cannot contain NUL, so a NUL in any field (a note, a name, a query, a
 * cursor, a heartbeat version) would otherwise fail deep in a query as a 500.
 * Checked once for every route: the URL (path and query, decoded) and JSON
 * bodies. Nesting deeper than JSON_MAX_DEPTH is refused too: no
 * route takes deeply nested input, and validators recurse.
 */
const JSON_MAX_DEPTH = 64;

function hasNul(text: string): boolean {
  return text.includes('\u0000') || /\\u0000/i.test(text);
}

function decodedUrl(url: string): string {
  try {
    return decodeURIComponent(url.replace(/\+/g, ' '));
  } catch {
    throw new PlumError('invalid_input', 'the URL holds an invalid percent-encoding', { hint: 'encode the path and query parameters as UTF-8' });
  }
}

/** Deepest array/object nesting of a JSON text, counted outside strings (stops early past `limit`). */
export function jsonDepth(text: string, limit = JSON_MAX_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 92)
        i++; // backslash: skip the escaped character
      else if (ch === 34) inString = false;
      continue;
    }
    if (ch === 34) inString = true;
    else if (ch === 91 || ch === 123) {
      depth++;
      if (depth > max) max = depth;
      if (max > limit) return max;
    } else if (ch === 93 || ch === 125) depth--;
  }
  return max;
}

/** `ownLimit`: paths whose routes enforce their own body limit; their bodies are not read here. */
export const inputGuard =
  (ownLimit: RegExp): MiddlewareHandler<ApiEnv> =>
  async (c, next) => {
    if (hasNul(decodedUrl(c.req.url))) {
      throw new PlumError('invalid_input', 'the URL holds a NUL character', { hint: 'remove NUL (\\u0000) characters from the path and parameters' });
    }
    const type = (c.req.header('content-type') ?? '').toLowerCase();
    // JSON bodies only: they are all under the API's JSON body limit, read before this. Routes with their
    // own, larger limits (target import, result upload) take text/plain or XML and check it themselves.
    if (type.startsWith('application/json') && !ownLimit.test(c.req.path)) {
      const text = await c.req.text();
      if (hasNul(text))
        throw new PlumError('invalid_input', 'the request body holds a NUL character', { hint: 'remove NUL (\\u0000) characters from text fields' });
      if (jsonDepth(text) > JSON_MAX_DEPTH) {
        throw new PlumError('invalid_input', `the JSON body is nested deeper than ${JSON_MAX_DEPTH} levels`, { hint: 'send the documented request shape' });
      }
    }
    await next();
  };
