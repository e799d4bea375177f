import { createRoute, z } from '@hono/zod-openapi';
import { startInvestigation } from '../../views/investigations.ts';
import { expensive, requireRole } from '../../auth.ts';
import { errors, jsonBody, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';

const Body = z
  .object({
    targets: z
      .array(z.string().trim().min(1).max(300))
      .min(1)
      .max(1024)
      .openapi({ example: ['192.0.2.10', '192.0.2.0/28'] }),
    ports: z.string().trim().min(1).max(10_000).default('1-1024').openapi({ description: 'TCP ports (nmap syntax)', example: '22,80,443,8000-8100' }),
    udpPorts: z.string().trim().min(1).max(10_000).optional(),
    scripts: z
      .array(z.string().max(100))
      .max(50)
      .default(['plum-banner'])
      .openapi({ example: ['plum-banner', 'http-title', 'ssl-cert'] }),
    reason: z.string().trim().min(1).max(1000).optional(),
  })
  .strict()
  .openapi('CreateInvestigation');

export const route = createRoute({
  method: 'post',
  path: '/v1/investigations',
  tags: ['investigations'],
  summary: 'Start an urgent investigation; returns its id at once',
  description:
    'Targets outside the perimeter (or excluded, or names that do not resolve inside it) are refused with 422, naming them in `error.details.offending`.',
  security,
  middleware: [requireRole('operator'), expensive] as const,
  request: { body: jsonBody(Body) },
  responses: {
    202: jsonContent(
      z.object({ id: z.string(), status: z.literal('queued'), links: z.object({ self: z.string(), report: z.string(), events: z.string() }) }),
      'Started',
    ),
    ...errors(400, 401, 403, 413, 422, 429, 503),
  },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const b = c.req.valid('json');
      const { runId } = await startInvestigation(c.var.deps, b, c.var.principal.name);
      return c.json(
        {
          id: runId,
          status: 'queued' as const,
          links: { self: `/v1/investigations/${runId}`, report: `/v1/investigations/${runId}/report`, events: '/v1/events' },
        },
        202,
      );
    });
  },
} satisfies RouteModule;
