import { createRoute, z } from '@hono/zod-openapi';
import { listTargets } from '../../../store/repos/targets.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { Label, TargetSchema } from './schemas.ts';

export const route = createRoute({
  method: 'get',
  path: '/v1/targets',
  tags: ['targets'],
  summary: 'List declared targets and exclusions',
  security,
  middleware: [requireRole('viewer')] as const,
  request: {
    query: z.object({
      label: Label.optional(),
      exclude: z.enum(['true', 'false']).optional().openapi({ description: 'only exclusions (true) or only inclusions (false)' }),
    }),
  },
  responses: { 200: jsonContent(z.object({ items: z.array(TargetSchema) }), 'Targets'), ...errors(400, 401, 403) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const q = c.req.valid('query');
      const items = await listTargets(c.var.deps.store, { label: q.label, exclude: q.exclude === undefined ? undefined : q.exclude === 'true' });
      return c.json({ items }, 200);
    });
  },
} satisfies RouteModule;
