import { createRoute, z } from '@hono/zod-openapi';
import { searchPorts, type HostHit } from '../../../store/search/index.ts';
import { expensive, requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';

const PortHit = z.object({
  id: z.string(),
  protocol: z.string(),
  port: z.number(),
  state: z.string(),
  hsh256: z.string(),
  tags: z.array(z.string()),
  score: z.number(),
  firstSeen: z.string(),
  lastSeen: z.string(),
  service: z.string().optional(),
  product: z.string().optional(),
  title: z.string().optional(),
});
const Result = z
  .object({
    query: z.string(),
    mode: z.enum(['structured', 'token']),
    by: z.enum(['port', 'host']),
    scope: z.enum(['current', 'history']),
    sort: z.enum(['last_seen', 'score']),
    backend: z.string(),
    hosts: z.array(
      z.object({ ip: z.string(), firstSeen: z.string(), lastSeen: z.string(), score: z.number(), tags: z.array(z.string()), ports: z.array(PortHit) }),
    ),
    nextCursor: z.string().optional(),
  })
  .openapi('SearchResult');

/** The API speaks camelCase; the store's hits are shared with the CLI's JSON, which speaks snake_case. */
function hostJson({ first_seen, last_seen, ports, ...host }: HostHit) {
  return {
    ...host,
    firstSeen: first_seen,
    lastSeen: last_seen,
    ports: ports.map(({ first_seen: firstSeen, last_seen: lastSeen, ...port }) => ({ ...port, firstSeen, lastSeen })),
  };
}

export const route = createRoute({
  method: 'get',
  path: '/v1/search',
  tags: ['search'],
  summary: 'Search with the structured language (or token mode), grouped by IP, paged by cursor',
  description:
    'Examples: `port:443 http_server.lk:nginx`, `net:192.0.2.0/24 port:22 since:7`, token mode `mode=token&q=openssh debian`. Syntax errors answer 400 with code `syntax` and details.position.',
  security,
  middleware: [requireRole('viewer'), expensive] as const,
  request: {
    query: z.object({
      q: z.string().min(1).max(4000),
      mode: z.enum(['structured', 'token']).default('structured'),
      by: z.enum(['port', 'host']).default('port').openapi({ description: 'host mode: terms may match different ports of a host' }),
      scope: z.enum(['current', 'history']).optional(),
      sort: z.enum(['last_seen', 'score']).default('last_seen'),
      limit: z.coerce.number().int().min(1).max(1000).default(50),
      cursor: z.string().min(1).max(2000).optional(),
      format: z
        .enum(['json', 'ndjson'])
        .default('json')
        .openapi({ description: 'ndjson: one host per line, then a last line {"nextCursor":...} when more follow' }),
    }),
  },
  responses: {
    200: {
      description: 'Matching hosts',
      content: { 'application/json': { schema: Result }, 'application/x-ndjson': { schema: z.string() } },
    },
    ...errors(400, 401, 403, 429),
  },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const q = c.req.valid('query');
      const result = await searchPorts(c.var.deps.store, q.q, {
        token: q.mode === 'token',
        by: q.by,
        scope: q.scope,
        sort: q.sort,
        limit: q.limit,
        cursor: q.cursor,
      });
      if (q.format === 'ndjson') {
        const lines = result.hosts.map((h) => JSON.stringify(hostJson(h)));
        if (result.nextCursor) lines.push(JSON.stringify({ nextCursor: result.nextCursor }));
        return c.body(lines.length ? `${lines.join('\n')}\n` : '', 200, { 'content-type': 'application/x-ndjson' }) as never;
      }
      return c.json({ ...result, hosts: result.hosts.map(hostJson) }, 200);
    });
  },
} satisfies RouteModule;
