import { createRoute, z } from '@hono/zod-openapi';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { EventSchema, eventJson } from '../history/schemas.ts';
import { jobCounts, jobJson, listJobs, runJson } from '../../../store/repos/runs.ts';
import { JobSchema, RunIdParam, RunSchema, loadRun } from '../runs/schemas.ts';
import { currentServicesOfRun, eventsOfRun } from '../../../store/repos/observations.ts';

const Result = z.object({
  ip: z.string(),
  protocol: z.string(),
  port: z.number(),
  state: z.string(),
  hsh256: z.string(),
  tags: z.array(z.string()),
  score: z.number(),
  firstSeen: z.string(),
  lastSeen: z.string(),
  service: z.string().nullable(),
  product: z.string().nullable(),
  title: z.string().nullable(),
  banner: z.string().nullable(),
});

export const route = createRoute({
  method: 'get',
  path: '/v1/investigations/{id}',
  tags: ['investigations'],
  summary: 'An investigation: status, progress, jobs, the services it found and the changes it caused',
  security,
  middleware: [requireRole('viewer')] as const,
  request: { params: RunIdParam },
  responses: {
    200: jsonContent(
      z.object({
        investigation: RunSchema,
        jobCounts: z.record(z.string(), z.number()),
        jobs: z.array(JobSchema),
        results: z.array(Result),
        events: z.array(EventSchema),
        reportUrl: z.string(),
      }),
      'The investigation',
    ),
    ...errors(400, 401, 403, 404),
  },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { id } = c.req.valid('param');
      const { store, config } = c.var.deps;
      const run = await loadRun(store, id, 'investigation');
      const results = await currentServicesOfRun(store, id);
      const events = await eventsOfRun(store, id, config.PLUM_FLAPPING);
      return c.json(
        {
          investigation: runJson(run),
          jobCounts: await jobCounts(store, id),
          jobs: (await listJobs(store, id)).map(jobJson),
          results: results.map((r) => ({
            ip: r.ip,
            protocol: r.protocol,
            port: r.port,
            state: r.state,
            hsh256: r.hsh256,
            tags: r.tags,
            score: r.score,
            firstSeen: r.first_seen.toISOString(),
            lastSeen: r.last_seen.toISOString(),
            service: r.service,
            product: r.product,
            title: r.title,
            banner: r.banner,
          })),
          events: events.map(eventJson),
          reportUrl: `/v1/investigations/${id}/report`,
        },
        200,
      );
    });
  },
} satisfies RouteModule;
