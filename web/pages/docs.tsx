import type { Hono } from 'hono';
import { assetRef } from '../assets.ts';
import type { WebEnv } from '../context.ts';
import { PAGE_CSP } from '../security.ts';

/**
 * The API reference: Swagger UI's browser bundle served from node_modules
 * (npm `swagger-ui-dist`), its stylesheet, our contrast fixes and a
 * same-origin init script, under the same CSP as every other page (Swagger UI
 * sets styles through the DOM, which `style-src 'self'` allows).
 */
export function registerDocs(web: Hono<WebEnv>): void {
  web.get('/docs', async (c) => {
    const [ui, css, ownCss, init] = await Promise.all([assetRef('swagger-ui.js'), assetRef('swagger-ui.css'), assetRef('docs.css'), assetRef('docs.js')]);
    c.header('Content-Security-Policy', PAGE_CSP);
    return c.html(
      '<!doctype html>' +
        (
          <html lang="en">
            <head>
              <meta charset="utf-8" />
              <meta name="viewport" content="width=device-width, initial-scale=1" />
              <title>Plum API</title>
              <link rel="stylesheet" href={css.src} integrity={css.integrity} />
              <link rel="stylesheet" href={ownCss.src} integrity={ownCss.integrity} />
            </head>
            <body>
              <main id="swagger-ui"></main>
              <script src={ui.src} integrity={ui.integrity}></script>
              <script src={init.src} integrity={init.integrity}></script>
            </body>
          </html>
        ).toString(),
    );
  });
}
