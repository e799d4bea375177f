import { createRoute, z } from '@hono/zod-openapi';
import { PlumError } from '../../../core/errors.ts';
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
      const run = await loadRun(store, id);
      if (!['queued', 'running'].includes(run.status)) {
        throw new PlumError('conflict', `run ${id} is already ${run.status}`, { hint: 'only queued or running runs can be cancelled' });
      }
      if (!services.cancelRun) {
        throw new PlumError('unavailable', 'this server cannot cancel runs', { hint: 'cancel from the process running it (plum serve or the Temporal UI)' });
      }
      await services.cancelRun(id);
      return c.json({ run: runJson(await loadRun(store, id)) }, 202);
    });
  },
} satisfies RouteModule;
