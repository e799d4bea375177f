import { createRoute, z } from '@hono/zod-openapi';
import { cancelRun } from '../../views/investigations.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { runJson } from '../../../store/repos/runs.ts';
import { RunIdParam, RunSchema, loadRun } from './schemas.ts';

export const route = createRoute({
  method: 'post',
  path: '/v1/runs/{id}/cancel',
  tags: ['runs'],
  summary: 'Cancel a queued or running run (running nmap processes are stopped)',
  security,
  middleware: [requireRole('operator')] as const,
  request: { params: RunIdParam },
  responses: { 202: jsonContent(z.object({ run: RunSchema }), 'Cancellation requested'), ...errors(400, 401, 403, 404, 409, 503) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { id } = c.req.valid('param');
      const { store, services } = c.var.deps;
      await cancelRun({ services }, await loadRun(store, id));
      return c.json({ run: runJson(await loadRun(store, id)) }, 202);
    });
  },
} satisfies RouteModule;
