import { expect } from 'vitest';
import type { ApiLimits, ApiServices } from '../../api/context.ts';
import { createUser } from '../../store/repos/users.ts';
import { startTestApi, type TestApi } from '../api/helpers.ts';
import type { StoreKindName } from '../helpers/db.ts';

export const PASSWORDS = { viewer: 'viewer password 1', operator: 'operator password 1', admin: 'admin password 1' } as const;

/** A real server (API + web) over a test store, with one web user per role (named after the role). */
export async function startTestWeb(kind: StoreKindName, opts: { services?: ApiServices; limits?: Partial<ApiLimits> } = {}): Promise<TestApi> {
  const api = await startTestApi(kind, opts);
  for (const role of ['viewer', 'operator', 'admin'] as const) await createUser(api.store, { name: role, role, password: PASSWORDS[role] });
  return api;
}

/** A browser-like client: keeps the cookies, never follows redirects. */
export class WebClient {
  cookies = new Map<string, string>();
  csrf = '';
  constructor(readonly base: string) {}

  private remember(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (value === '' || /max-age=0/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const res = await fetch(`${this.base}${path}`, { redirect: 'manual', headers: { accept: 'text/html', cookie: this.cookieHeader(), ...headers } });
    this.remember(res);
    return res;
  }

  async post(path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    const res = await fetch(`${this.base}${path}`, {
      method: 'POST',
      redirect: 'manual',
      body: new URLSearchParams(form),
      headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded', cookie: this.cookieHeader(), ...headers },
    });
    this.remember(res);
    return res;
  }

  /** Posts files as multipart/form-data (the browser's file upload), with this session's CSRF token unless `csrf` is false. */
  async postFiles(
    path: string,
    files: { name: string; text: string | Uint8Array }[],
    opts: { field?: string; csrf?: boolean; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const body = new FormData();
    if (opts.csrf !== false) body.set('_csrf', this.csrf);
    for (const f of files) body.append(opts.field ?? 'files', new Blob([f.text]), f.name);
    const res = await fetch(`${this.base}${path}`, {
      method: 'POST',
      redirect: 'manual',
      body,
      headers: { accept: 'text/html', cookie: this.cookieHeader(), ...opts.headers },
    });
    this.remember(res);
    return res;
  }

  /** Posts with this session's CSRF token. */
  postForm(path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    return this.post(path, { _csrf: this.csrf, ...form }, headers);
  }

  /** Reads the CSRF token of a page's forms. */
  async csrfOf(path = '/'): Promise<string> {
    const html = await (await this.get(path)).text();
    const m = /name="_csrf" value="([^"]+)"/.exec(html);
    expect(m, `no CSRF field on ${path}`).toBeTruthy();
    return m![1]!;
  }
}

export async function loginAs(api: TestApi, role: keyof typeof PASSWORDS, password: string = PASSWORDS[role]): Promise<{ client: WebClient; res: Response }> {
  const client = new WebClient(api.server.url);
  const token = await client.csrfOf('/login');
  const res = await client.post('/login', { _csrf: token, name: role, password, next: '/' });
  if (res.status === 303 && client.cookies.has('plum_session')) client.csrf = await client.csrfOf('/');
  return { client, res };
}
