import { createRoute, z } from '@hono/zod-openapi';
import { PlumError } from '../../../core/errors.ts';
import { listTargets } from '../../../store/repos/targets.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { TargetIdParam, TargetSchema } from './schemas.ts';

export const route = createRoute({
  method: 'get',
  path: '/v1/targets/{id}',
  tags: ['targets'],
  summary: 'Show one target',
  security,
  middleware: [requireRole('viewer')] as const,
  request: { params: TargetIdParam },
  responses: { 200: jsonContent(z.object({ target: TargetSchema }), 'The target'), ...errors(400, 401, 403, 404) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { id } = c.req.valid('param');
      const target = (await listTargets(c.var.deps.store)).find((t) => t.id === id);
      if (!target) throw new PlumError('not_found', `no target ${id}`, { hint: 'list targets with GET /v1/targets' });
      return c.json({ target }, 200);
    });
  },
} satisfies RouteModule;
