import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Hono } from 'hono';
import { PlumError } from '../core/errors.ts';
import { projectPath } from '../core/project-root.ts';
import type { WebEnv } from './context.ts';

const require = createRequire(import.meta.url);
const here = projectPath('web');

/**
 * Every script and style the pages load, served from the package itself (no
 * CDN): our own files under web/static/ and vendored libraries from
 * node_modules. URLs carry the content hash, so they are cached for a year
 * and a new version is a new URL; pages add the SRI integrity.
 */
const SOURCES: Record<string, { file: () => string; type: string }> = {
  'plum.css': { file: () => path.join(here, 'static', 'plum.css'), type: 'text/css; charset=utf-8' },
  'plum.js': { file: () => path.join(here, 'static', 'plum.js'), type: 'text/javascript; charset=utf-8' },
  'docs.js': { file: () => path.join(here, 'static', 'docs.js'), type: 'text/javascript; charset=utf-8' },
  'docs.css': { file: () => path.join(here, 'static', 'docs.css'), type: 'text/css; charset=utf-8' },
  'htmx.min.js': { file: () => require.resolve('htmx.org/dist/htmx.min.js'), type: 'text/javascript; charset=utf-8' },
  // The API reference: Swagger UI's prebuilt browser bundle and its stylesheet (no dependencies at run time).
  'swagger-ui.js': { file: () => require.resolve('swagger-ui-dist/swagger-ui-bundle.js'), type: 'text/javascript; charset=utf-8' },
  'swagger-ui.css': { file: () => require.resolve('swagger-ui-dist/swagger-ui.css'), type: 'text/css; charset=utf-8' },
};
export type AssetName = keyof typeof SOURCES;

interface Asset {
  body: Buffer;
  type: string;
  hash: string;
  integrity: string;
}
const cache = new Map<string, Promise<Asset>>();

async function read(name: string): Promise<Asset> {
  const src = SOURCES[name];
  if (!src) throw new PlumError('not_found', `no asset ${name}`);
  const body = await fs.readFile(src.file());
  return {
    body,
    type: src.type,
    hash: createHash('sha256').update(body).digest('hex').slice(0, 16),
    integrity: `sha384-${createHash('sha384').update(body).digest('base64')}`,
  };
}

function asset(name: string): Promise<Asset> {
  let a = cache.get(name);
  if (!a) {
    a = read(name);
    a.catch(() => cache.delete(name));
    cache.set(name, a);
  }
  return a;
}

/** The versioned URL and SRI of an asset, for a <script> or <link>. */
export async function assetRef(name: AssetName): Promise<{ src: string; integrity: string }> {
  const a = await asset(name);
  return { src: `/assets/${a.hash}/${name}`, integrity: a.integrity };
}

export function registerAssets(web: Hono<WebEnv>): void {
  // Browsers ask for it on every page; no icon is better than a 404 in every console.
  web.get('/favicon.ico', (c) => c.body(null, 204, { 'cache-control': 'public, max-age=86400' }));
  web.get('/assets/:hash/:name', async (c) => {
    const name = c.req.param('name');
    if (!Object.hasOwn(SOURCES, name)) throw new PlumError('not_found', `no asset ${name}`);
    const a = await asset(name);
    // An old hash (a page from before an upgrade) still gets today's file, just not for a year.
    const fresh = c.req.param('hash') === a.hash;
    return c.body(new Uint8Array(a.body), 200, {
      'content-type': a.type,
      'cache-control': fresh ? 'public, max-age=31536000, immutable' : 'no-cache',
      etag: `"${a.hash}"`,
    });
  });
}
