import { createRoute, z } from '@hono/zod-openapi';
import { removeTargets } from '../../../store/repos/targets.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { TargetIdParam, TargetSchema } from './schemas.ts';

export const route = createRoute({
  method: 'delete',
  path: '/v1/targets/{id}',
  tags: ['targets'],
  summary: 'Remove a target (its observations stay in history)',
  security,
  middleware: [requireRole('operator')] as const,
  request: { params: TargetIdParam },
  responses: { 200: jsonContent(z.object({ target: TargetSchema }), 'The removed target'), ...errors(400, 401, 403, 404) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { id } = c.req.valid('param');
      const [target] = await removeTargets(c.var.deps.store, [id]);
      return c.json({ target: target! }, 200);
    });
  },
} satisfies RouteModule;
