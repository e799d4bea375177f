import { createRoute, z } from '@hono/zod-openapi';
import { hostDetail } from '../../views/host.ts';
import { expensiveWhen, requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { EventSchema } from '../history/schemas.ts';

const Feature = z.object({
  name: z.string(),
  value: z.union([z.string(), z.number(), z.array(z.string()), z.null()]),
  normalized: z.number(),
  weight: z.number(),
  contribution: z.number(),
  percent: z.number(),
});
const Service = z.object({
  id: z.string(),
  protocol: z.string(),
  port: z.number(),
  state: z.enum(['open', 'closed']),
  hsh256: z.string(),
  fpVersion: z.number(),
  firstSeen: z.string(),
  lastSeen: z.string(),
  timesSeen: z.number(),
  stateChangedAt: z.string(),
  hostnames: z.array(z.string()),
  fields: z.record(z.string(), z.array(z.string())),
  tags: z.array(z.string()),
  score: z.number(),
  scoreFeatures: z.record(z.string(), z.unknown()).nullable(),
  flapping: z.boolean().openapi({
    description: 'the port is flapping now: it went away PLUM_FLAPPING times within its window up to now (default 3/7d), so its state may not last',
  }),
});
const Host = z
  .object({
    ip: z.string(),
    firstSeen: z.string().nullable(),
    lastSeen: z.string().nullable(),
    hostnames: z.array(z.string()),
    tags: z.array(z.string()),
    score: z
      .object({ score: z.number(), band: z.string(), features: z.array(Feature) })
      .openapi({ description: "Host exposure score over its open ports, with every feature's contribution" }),
    services: z.array(Service),
    history: z.array(EventSchema),
  })
  .openapi('Host');

const DEFAULT_EVENTS = 1000;

/** More than the default number of events is a heavy read (up to 10,000 events): rate-limited like history. */
const heavyHistory = expensiveWhen((c) => Number(c.req.query('events') ?? DEFAULT_EVENTS) > DEFAULT_EVENTS);

export const route = createRoute({
  method: 'get',
  path: '/v1/hosts/{ip}',
  tags: ['hosts'],
  summary: 'A host: current services, history and score explanation',
  security,
  middleware: [requireRole('viewer'), heavyHistory] as const,
  request: {
    params: z.object({
      ip: z
        .string()
        .min(2)
        .max(45)
        .regex(/^[0-9a-fA-F:.]+$/, 'must be an IPv4 or IPv6 address')
        .openapi({ param: { name: 'ip', in: 'path' } }),
    }),
    query: z.object({
      events: z.coerce
        .number()
        .int()
        .min(0)
        .max(10_000)
        .default(DEFAULT_EVENTS)
        .openapi({ description: `most recent events to return; more than ${DEFAULT_EVENTS} counts against the rate limit of heavy reads` }),
    }),
  },
  responses: { 200: jsonContent(Host, 'The host'), ...errors(400, 401, 403, 404) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { ip } = c.req.valid('param');
      const { events } = c.req.valid('query');
      return c.json(await hostDetail(c.var.deps, ip, { events }), 200);
    });
  },
} satisfies RouteModule;
