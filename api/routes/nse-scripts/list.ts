import { createRoute, z } from '@hono/zod-openapi';
import { listNseScripts } from '../../../store/repos/nse-scripts.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { NseScriptSchema } from './schemas.ts';

export const route = createRoute({
  method: 'get',
  path: '/v1/nse-scripts',
  tags: ['nse-scripts'],
  summary: 'Custom NSE scripts with their SHA-256 and declared categories (never the content)',
  security,
  middleware: [requireRole('viewer')] as const,
  responses: { 200: jsonContent(z.object({ items: z.array(NseScriptSchema) }), 'Custom scripts by name'), ...errors(401, 403) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => c.json({ items: await listNseScripts(c.var.deps.store) }, 200));
  },
} satisfies RouteModule;
