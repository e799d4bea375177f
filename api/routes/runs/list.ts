import { createRoute, z } from '@hono/zod-openapi';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security, typedId } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { RUN_KINDS, RUN_STATUSES, listRuns, runJson } from '../../../store/repos/runs.ts';
import { RunSchema } from './schemas.ts';

export const route = createRoute({
  method: 'get',
  path: '/v1/runs',
  tags: ['runs'],
  summary: 'List runs, newest first, with status, progress and counters',
  security,
  middleware: [requireRole('viewer')] as const,
  request: {
    query: z.object({
      kind: z.enum(RUN_KINDS).optional(),
      status: z.enum(RUN_STATUSES).optional(),
      profile: z
        .string()
        .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be a profile name')
        .optional(),
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
      const { items: rows, more } = await listRuns(c.var.deps.store, q);
      const items = rows.map(runJson);
      return c.json(more ? { items, nextCursor: items[items.length - 1]!.id } : { items }, 200);
    });
  },
} satisfies RouteModule;
