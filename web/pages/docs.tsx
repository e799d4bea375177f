import type { Hono } from 'hono';
import { assetRef } from '../assets.ts';
import type { WebEnv } from '../context.ts';

/**
 * The API reference: Scalar's standalone bundle served from node_modules with
 * a same-origin init script. Scalar injects its styles at run time, so this
 * page alone allows inline styles; scripts stay same-origin only.
 */
const DOCS_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:", "font-src 'self' data:",
  "connect-src 'self'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'",
].join('; ');

export function registerDocs(web: Hono<WebEnv>): void {
  web.get('/docs', async (c) => {
    const [scalar, init] = await Promise.all([assetRef('scalar.js'), assetRef('docs.js')]);
    c.header('Content-Security-Policy', DOCS_CSP);
    return c.html('<!doctype html>' + (
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>Plum API</title>
        </head>
        <body>
          <div id="app"></div>
          <script src={scalar.src} integrity={scalar.integrity}></script>
          <script src={init.src} integrity={init.integrity}></script>
        </body>
      </html>
    ).toString());
  });
}
