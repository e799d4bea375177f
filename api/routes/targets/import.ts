import { createRoute, z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { PlumError } from '../../../core/errors.ts';
import { importTargetList } from '../../views/targets.ts';
import { expensive, requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { Label, OverlapSchema, TargetSchema, overlapJson } from './schemas.ts';

const MAX_BYTES = 16 * 1024 * 1024;

const importLimit = bodyLimit({
  maxSize: MAX_BYTES,
  onError: () => {
    throw new PlumError('payload_too_large', `target list larger than ${MAX_BYTES} bytes`, { hint: 'import in several batches' });
  },
});

const Report = z
  .object({
    accepted: z.array(TargetSchema),
    duplicate: z.array(z.object({ line: z.number(), value: z.string() })),
    invalid: z.array(z.object({ line: z.number(), value: z.string(), error: z.string() })),
    overlaps: z.array(OverlapSchema),
  })
  .openapi('TargetImportReport');

export const route = createRoute({
  method: 'post',
  path: '/v1/targets/import',
  tags: ['targets'],
  summary: 'Bulk import, one target per line (# comments and blank lines skipped); reports accepted, duplicate and invalid entries',
  description: 'Valid entries are stored in one transaction even when other lines are invalid; the report names every refused line.',
  security,
  middleware: [requireRole('operator'), expensive, importLimit] as const,
  request: {
    query: z.object({
      exclude: z.enum(['true', 'false']).default('false'),
      label: z
        .union([Label, z.array(Label).max(50)])
        .optional()
        .openapi({ description: 'label(s) given to the imported targets' }),
    }),
    body: { required: true, content: { 'text/plain': { schema: z.string().openapi({ example: '192.0.2.0/24\nwww.example.org\n' }) } } },
  },
  responses: { 200: jsonContent(Report, 'What was accepted, already declared, or refused'), ...errors(400, 401, 403, 409, 413, 429) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const q = c.req.valid('query');
      const type = c.req.header('content-type') ?? '';
      if (!/^text\/plain\b/i.test(type)) {
        throw new PlumError('invalid_input', 'send the targets as text/plain, one per line', { hint: 'set Content-Type: text/plain' });
      }
      const labels = q.label === undefined ? [] : Array.isArray(q.label) ? q.label : [q.label];
      const r = await importTargetList(c.var.deps.store, await c.req.text(), { exclude: q.exclude === 'true', labels });
      return c.json({ ...r, overlaps: r.overlaps.map(overlapJson) }, 200);
    });
  },
} satisfies RouteModule;
