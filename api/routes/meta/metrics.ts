import { createRoute, z } from '@hono/zod-openapi';
import { PlumError } from '../../../core/errors.ts';
import { requireRole } from '../../auth.ts';
import { apiMetrics } from '../../metrics.ts';
import { errors, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';

export const route = createRoute({
  method: 'get',
  path: '/metrics',
  tags: ['meta'],
  summary: 'Prometheus metrics: runs, jobs, queue depth, webhook backlog, ingest totals, request and search latency',
  description: 'Needs a viewer key like every read (Prometheus: `authorization: {credentials_file: …}`). Counts only, no addresses.',
  security,
  middleware: [requireRole('viewer')] as const,
  responses: {
    200: { description: 'The Prometheus text exposition format', content: { 'text/plain': { schema: z.string() } } },
    ...errors(401, 403, 503),
  },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { registry } = apiMetrics(c.var.deps);
      let text: string;
      try {
        text = await registry.metrics();
      } catch (e) {
        throw new PlumError('unavailable', `metrics could not be read: ${(e as Error).message}`, { hint: 'see /readyz', cause: e });
      }
      return c.body(text, 200, { 'content-type': registry.contentType }) as never;
    });
  },
} satisfies RouteModule;
