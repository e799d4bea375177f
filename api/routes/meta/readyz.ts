import { createRoute, z } from '@hono/zod-openapi';
import type { RouteModule } from '../index.ts';
import { jsonContent } from '../../schemas.ts';
import { checkReadiness, readinessChecks } from '../../readiness.ts';

const State = z.enum(['ok', 'failed', 'timeout']);
const Readyz = z
  .object({
    status: z.enum(['ready', 'unavailable']),
    checks: z.object({ database: State, temporal: State.optional(), meilisearch: State.optional() }),
  })
  .openapi('Readyz');

export const route = createRoute({
  method: 'get',
  path: '/readyz',
  tags: ['meta'],
  summary: 'Readiness: the database, and Temporal and Meilisearch when configured, each within 2 s (no authentication)',
  description: 'Names each dependency and its state, nothing more: the reasons go to the server log.',
  responses: {
    200: jsonContent(Readyz, 'Every dependency answered'),
    503: jsonContent(Readyz, 'At least one dependency failed or did not answer in time'),
  },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const deps = c.var.deps;
      const r = await checkReadiness(readinessChecks(deps), undefined, (name, err) => {
        deps.log.warn({ check: name, err: err instanceof Error ? err.message : String(err) }, 'readiness check failed');
      });
      const checks = { database: r.checks.database ?? 'failed', ...r.checks };
      return r.ready ? c.json({ status: 'ready' as const, checks }, 200) : c.json({ status: 'unavailable' as const, checks }, 503);
    });
  },
} satisfies RouteModule;
