import type { ApiApp } from '../api/context.ts';

/*
 * The MCP tools reach Plum through its own HTTP API, in-process: the same
 * routes, validation, role checks and errors as any API client, with the
 * caller's key. A tool can therefore never do more than its key may.
 */

export interface ApiAnswer {
  status: number;
  /** The parsed JSON body, or the text of a non-JSON body (Markdown reports). */
  body: unknown;
}

export type ApiCall = (method: 'GET' | 'POST', path: string, json?: unknown) => Promise<ApiAnswer>;

/** Calls `app` in-process with `authorization` (the caller's `Bearer …` header). */
export function inProcessApi(app: ApiApp, authorization: string): ApiCall {
  return async (method, path, json) => {
    const headers: Record<string, string> = { authorization };
    if (json !== undefined) headers['content-type'] = 'application/json';
    const res = await app.request(path, { method, headers, ...(json !== undefined ? { body: JSON.stringify(json) } : {}) });
    const text = await res.text();
    const type = res.headers.get('content-type') ?? '';
    return { status: res.status, body: type.includes('json') && text ? (JSON.parse(text) as unknown) : text };
  };
}

/** `?a=1&b=x` from the defined values. */
export function queryString(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
