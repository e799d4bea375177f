import { createRoute, z } from '@hono/zod-openapi';
import type { RouteModule } from '../index.ts';
import { jsonContent } from '../../schemas.ts';

const Healthz = z.object({ status: z.literal('ok') }).openapi('Healthz');

export const route = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['meta'],
  summary: 'Liveness: the process answers (no authentication, touches nothing; /readyz checks the dependencies)',
  responses: { 200: jsonContent(Healthz, 'The process is up') },
});

export default {
  register(app) {
    app.openapi(route, (c) => c.json({ status: 'ok' as const }, 200));
  },
} satisfies RouteModule;
