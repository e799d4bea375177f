import { createRoute, z } from '@hono/zod-openapi';
import { removeNseScript } from '../../../store/repos/nse-scripts.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { NseScriptParam, NseScriptSchema } from './schemas.ts';

export const route = createRoute({
  method: 'delete',
  path: '/v1/nse-scripts/{name}',
  tags: ['nse-scripts'],
  summary: 'Delete a custom NSE script that no profile names',
  security,
  middleware: [requireRole('admin')] as const,
  request: { params: NseScriptParam },
  responses: { 200: jsonContent(z.object({ script: NseScriptSchema }), 'Deleted'), ...errors(400, 401, 403, 404, 409) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => c.json({ script: await removeNseScript(c.var.deps.store, c.req.valid('param').name) }, 200));
  },
} satisfies RouteModule;
