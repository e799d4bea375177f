import { createRoute, z } from '@hono/zod-openapi';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { jobCounts, jobJson, listJobs, runJson } from '../../../store/repos/runs.ts';
import { JobSchema, RunIdParam, RunSchema, loadRun } from './schemas.ts';

export const route = createRoute({
  method: 'get',
  path: '/v1/runs/{id}',
  tags: ['runs'],
  summary: 'Show a run: status, progress, counters and its jobs',
  security,
  middleware: [requireRole('viewer')] as const,
  request: { params: RunIdParam },
  responses: {
    200: jsonContent(z.object({ run: RunSchema, jobCounts: z.record(z.string(), z.number()), jobs: z.array(JobSchema) }), 'The run'),
    ...errors(400, 401, 403, 404),
  },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { id } = c.req.valid('param');
      const { store } = c.var.deps;
      const run = await loadRun(store, id);
      return c.json({ run: runJson(run), jobCounts: await jobCounts(store, id), jobs: (await listJobs(store, id)).map(jobJson) }, 200);
    });
  },
} satisfies RouteModule;
