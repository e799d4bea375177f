import type { Context } from 'hono';
import type { Child } from 'hono/jsx';
import { roleAtLeast } from '../api/auth.ts';
import type { ApiKeyRole } from '../store/repos/apikeys.ts';
import { assetRef } from './assets.ts';
import type { WebEnv } from './context.ts';

const NAV: { href: string; label: string; role: ApiKeyRole }[] = [
  { href: '/', label: 'Overview', role: 'viewer' },
  { href: '/search', label: 'Search', role: 'viewer' },
  { href: '/changes', label: 'Changes', role: 'viewer' },
  { href: '/runs', label: 'Runs', role: 'viewer' },
  { href: '/perimeter', label: 'Perimeter', role: 'viewer' },
  { href: '/rules', label: 'Rules', role: 'viewer' },
  { href: '/reports', label: 'Reports', role: 'viewer' },
  { href: '/admin', label: 'Admin', role: 'admin' },
];

/** The hidden CSRF field every form of a logged-in page carries. */
export function Csrf({ c }: { c: Context<WebEnv> }) {
  return <input type="hidden" name="_csrf" value={c.var.session?.csrfToken ?? ''} />;
}

/** A form posting to `action` with the CSRF token. */
export function PostForm({ c, action, children, class: cls }: { c: Context<WebEnv>; action: string; children?: Child; class?: string }) {
  return (
    <form method="post" action={action} class={cls}>
      <Csrf c={c} />
      {children}
    </form>
  );
}

export function Flash({ c }: { c: Context<WebEnv> }) {
  const ok = c.req.query('ok');
  const err = c.req.query('error');
  return (
    <>
      {ok ? (
        <p class="flash ok" role="status">
          {ok}
        </p>
      ) : null}
      {err ? (
        <p class="flash error" role="alert">
          {err}
        </p>
      ) : null}
    </>
  );
}

/**
 * The page frame: navigation by role, the user and a logout form, and only
 * same-origin scripts (with SRI). No inline script or style anywhere: the CSP
 * forbids them.
 */
export async function render(
  c: Context<WebEnv>,
  title: string,
  body: Child,
  status: 200 | 400 | 403 | 404 | 409 | 422 | 429 | 500 | 503 = 200,
  opts: { refreshTo?: string } = {},
) {
  const [css, htmx, js] = await Promise.all([assetRef('plum.css'), assetRef('htmx.min.js'), assetRef('plum.js')]);
  const user = c.var.session?.user;
  const path = new URL(c.req.url).pathname;
  const current = (href: string) => (href === '/' ? path === '/' : path === href || path.startsWith(`${href}/`));
  return c.html(
    '<!doctype html>' +
      (
        <html lang="en">
          <head>
            <meta charset="utf-8" />
            <meta name="viewport" content="width=device-width, initial-scale=1" />
            <meta name="htmx-config" content='{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true}' />
            {opts.refreshTo ? <meta http-equiv="refresh" content={`0;url=${opts.refreshTo}`} /> : null}
            <title>{`${title} · Plum`}</title>
            <link rel="stylesheet" href={css.src} integrity={css.integrity} />
            <script src={htmx.src} integrity={htmx.integrity} defer></script>
            <script src={js.src} integrity={js.integrity} defer></script>
          </head>
          <body>
            <a class="skip" href="#main">
              Skip to content
            </a>
            <header class="top">
              <a class="brand" href="/">
                Plum
              </a>
              {user ? (
                <nav aria-label="Main">
                  <ul>
                    {NAV.filter((n) => roleAtLeast(user.role, n.role)).map((n) => (
                      <li>
                        <a href={n.href} aria-current={current(n.href) ? 'page' : undefined}>
                          {n.label}
                        </a>
                      </li>
                    ))}
                  </ul>
                </nav>
              ) : null}
              {user ? (
                <form method="post" action="/logout" class="who">
                  <Csrf c={c} />
                  <span>
                    {user.name} ({user.role})
                  </span>
                  <button type="submit">Log out</button>
                </form>
              ) : null}
            </header>
            <main id="main">
              <h1>{title}</h1>
              <Flash c={c} />
              {body}
            </main>
          </body>
        </html>
      ).toString(),
    status,
  );
}

/** A date as the pages show it: ISO to the second, UTC, in a <time>. */
export function When({ at }: { at: Date | string | null | undefined }) {
  if (!at) return <span class="muted">—</span>;
  const d = typeof at === 'string' ? new Date(at) : at;
  const iso = d.toISOString();
  return <time datetime={iso}>{iso.slice(0, 19).replace('T', ' ')}</time>;
}

/** Paging links: previous is the browser's back; next carries the cursor in the query string. */
export function NextPage({ c, cursor, param = 'cursor' }: { c: Context<WebEnv>; cursor?: string; param?: string }) {
  if (!cursor) return null;
  const u = new URL(c.req.url);
  u.searchParams.set(param, cursor);
  return (
    <p class="paging">
      <a rel="next" href={u.pathname + u.search}>
        Next page →
      </a>
    </p>
  );
}

export function Tags({ tags }: { tags: string[] }) {
  return (
    <ul class="tags">
      {tags.map((t) => (
        <li>
          <a href={`/search?q=${encodeURIComponent(`tag:${t.includes(' ') ? JSON.stringify(t) : t}`)}`}>{t}</a>
        </li>
      ))}
    </ul>
  );
}
