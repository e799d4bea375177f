import { createRoute, z } from '@hono/zod-openapi';
import { addTargets } from '../../../store/repos/targets.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonBody, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { Label, OverlapSchema, TargetSchema, overlapJson } from './schemas.ts';

const Body = z
  .object({
    values: z
      .array(z.string().trim().min(1).max(300))
      .min(1)
      .max(10_000)
      .openapi({ example: ['192.0.2.0/24', 'www.example.org'] }),
    exclude: z.boolean().default(false),
    labels: z.array(Label).max(50).default([]),
    note: z.string().max(1000).optional(),
  })
  .strict()
  .openapi('CreateTargets');

export const route = createRoute({
  method: 'post',
  path: '/v1/targets',
  tags: ['targets'],
  summary: 'Declare targets (or exclusions); all-or-nothing: one invalid value refuses the request',
  security,
  middleware: [requireRole('operator')] as const,
  request: { body: jsonBody(Body) },
  responses: {
    201: jsonContent(z.object({ added: z.array(TargetSchema), unchanged: z.array(TargetSchema), overlaps: z.array(OverlapSchema) }), 'Declared'),
    ...errors(400, 401, 403, 409, 413),
  },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const b = c.req.valid('json');
      const r = await addTargets(c.var.deps.store, b.values, { exclude: b.exclude, labels: b.labels, note: b.note });
      return c.json({ added: r.added, unchanged: r.unchanged, overlaps: r.overlaps.map(overlapJson) }, 201);
    });
  },
} satisfies RouteModule;
