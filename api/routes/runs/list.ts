import { createRoute, z } from '@hono/zod-openapi';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security, typedId } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { RUN_COLUMNS, RunSchema, runJson } from './schemas.ts';

export const route = createRoute({
  method: 'get',
  path: '/v1/runs',
  tags: ['runs'],
  summary: 'List runs, newest first, with status, progress and counters',
  security,
  middleware: [requireRole('viewer')] as const,
  request: {
    query: z.object({
      kind: z.enum(['profile', 'investigation', 'import']).optional(),
      status: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled', 'partial']).optional(),
      profile: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be a profile name').optional(),
      limit: z.coerce.number().int().min(1).max(500).default(50),
      cursor: typedId('run').optional().openapi({ description: 'the nextCursor of the previous page' }),
    }),
  },
  responses: { 200: jsonContent(z.object({ items: z.array(RunSchema), nextCursor: z.string().optional() }), 'Runs'), ...errors(400, 401, 403) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const q = c.req.valid('query');
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (clause: string, v: unknown) => {
        params.push(v);
        where.push(clause.replace('?', `$${params.length}`));
      };
      if (q.kind) add('kind = ?', q.kind);
      if (q.status) add('status = ?', q.status);
      if (q.profile) add('profile_name = ?', q.profile);
      // Run ids are time-sorted (UUIDv7 typeids): the last id of a page is the cursor.
      if (q.cursor) add('id < ?', q.cursor);
      params.push(q.limit + 1);
      const rows = await c.var.deps.store.query<Parameters<typeof runJson>[0]>(
        `select ${RUN_COLUMNS} from runs ${where.length ? `where ${where.join(' and ')}` : ''} order by id desc limit $${params.length}`, params);
      const more = rows.length > q.limit;
      const items = rows.slice(0, q.limit).map(runJson);
      return c.json(more ? { items, nextCursor: items[items.length - 1]!.id } : { items }, 200);
    });
  },
} satisfies RouteModule;
