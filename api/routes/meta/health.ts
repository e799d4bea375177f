import { createRoute, z } from '@hono/zod-openapi';
import type { RouteModule } from '../index.ts';
import { jsonContent } from '../../schemas.ts';
import { PLUM_VERSION } from '../../../core/version.ts';
import { databaseAnswers } from '../../../store/health.ts';

const Health = z
  .object({
    status: z.literal('ok'),
    database: z.enum(['pglite', 'postgres']),
    version: z.string(),
  })
  .openapi('Health');

export const route = createRoute({
  method: 'get',
  path: '/v1/health',
  tags: ['meta'],
  summary: 'Liveness and database reachability (no authentication)',
  responses: { 200: jsonContent(Health, 'The server and its database answer') },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { store } = c.var.deps;
      await databaseAnswers(store);
      return c.json({ status: 'ok' as const, database: store.kind, version: PLUM_VERSION }, 200);
    });
  },
} satisfies RouteModule;
