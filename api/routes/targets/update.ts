import { createRoute, z } from '@hono/zod-openapi';
import { PlumError } from '../../../core/errors.ts';
import { parseLabel } from '../../../core/targets.ts';
import { listTargets, updateTargetMeta } from '../../../store/repos/targets.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonBody, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { Label, TargetIdParam, TargetSchema } from './schemas.ts';

const Body = z
  .object({
    labels: z.array(Label).max(50).optional(),
    note: z.string().max(1000).nullable().optional(),
  })
  .strict()
  .refine((b) => b.labels !== undefined || b.note !== undefined, 'give labels or note')
  .openapi('UpdateTarget');

export const route = createRoute({
  method: 'patch',
  path: '/v1/targets/{id}',
  tags: ['targets'],
  summary: "Change a target's labels or note (the value itself is immutable: delete and re-add)",
  security,
  middleware: [requireRole('operator')] as const,
  request: { params: TargetIdParam, body: jsonBody(Body) },
  responses: { 200: jsonContent(z.object({ target: TargetSchema }), 'The updated target'), ...errors(400, 401, 403, 404, 413) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { id } = c.req.valid('param');
      const b = c.req.valid('json');
      const { store } = c.var.deps;
      const set: { labels?: string[]; note?: string | null } = {};
      if (b.labels) set.labels = [...new Set(b.labels.map(parseLabel))];
      if (b.note !== undefined) set.note = b.note;
      if (!(await updateTargetMeta(store, id, set))) throw new PlumError('not_found', `no target ${id}`, { hint: 'list targets with GET /v1/targets' });
      const target = (await listTargets(store)).find((t) => t.id === id)!;
      return c.json({ target }, 200);
    });
  },
} satisfies RouteModule;
