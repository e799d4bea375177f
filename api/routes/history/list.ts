import { createRoute, z } from '@hono/zod-openapi';
import { parseSince } from '../../../core/duration.ts';
import { PlumError } from '../../../core/errors.ts';
import { parseTarget } from '../../../core/targets.ts';
import { listEvents } from '../../../store/repos/observations.ts';
import type { EventType } from '../../../store/schema/observation-events.ts';
import { expensive, requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { EventSchema, eventJson } from './schemas.ts';

const Time = z
  .string()
  .regex(/^(\d{1,5}[mhdw]|\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?)$/, 'must be a duration like 7d, 12h, 30m, 2w or an ISO date');

export const route = createRoute({
  method: 'get',
  path: '/v1/history',
  tags: ['history'],
  summary: 'The change feed (appeared, changed, gone, reappeared), by period, event type, network and tag; newest first',
  security,
  // Up to 10,000 events over any period: rate-limited like the other heavy reads.
  middleware: [requireRole('viewer'), expensive] as const,
  request: {
    query: z.object({
      since: Time.optional(),
      until: Time.optional(),
      types: z
        .string()
        .regex(
          /^(appeared|changed|gone|reappeared)(,(appeared|changed|gone|reappeared))*$/,
          'must be a comma-separated list of appeared, changed, gone, reappeared',
        )
        .optional(),
      net: z.string().max(64).optional().openapi({ description: 'an address or CIDR' }),
      tag: z.string().min(1).max(200).optional().openapi({ description: 'only events of services carrying this tag', example: 'product:nginx' }),
      flapping: z
        .enum(['show', 'hide'], { error: 'must be show or hide' })
        .default('show')
        .openapi({ description: 'hide: leave out the gone/reappeared events of flapping ports (those marked flapping); every other event stays' }),
      limit: z.coerce.number().int().min(1).max(10_000).default(1000),
    }),
  },
  responses: { 200: jsonContent(z.object({ items: z.array(EventSchema) }), 'Events'), ...errors(400, 401, 403, 429) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const q = c.req.valid('query');
      const now = new Date();
      let net: string | undefined;
      if (q.net !== undefined) {
        let t;
        try {
          t = parseTarget(q.net);
        } catch {
          t = undefined;
        }
        if (!t || (t.kind !== 'ip' && t.kind !== 'cidr')) {
          throw new PlumError('invalid_input', `invalid query field "net": "${q.net}" is not an address or CIDR`, { hint: 'e.g. net=192.0.2.0/24' });
        }
        net = t.value;
      }
      const items = await listEvents(c.var.deps.store, {
        since: q.since === undefined ? undefined : parseSince(q.since, now, 'since'),
        until: q.until === undefined ? undefined : parseSince(q.until, now, 'until'),
        types: q.types?.split(',') as EventType[] | undefined,
        net,
        tag: q.tag,
        limit: q.limit,
        flapping: c.var.deps.config.PLUM_FLAPPING,
        hideFlapping: q.flapping === 'hide',
      });
      return c.json({ items: items.map(eventJson) }, 200);
    });
  },
} satisfies RouteModule;
