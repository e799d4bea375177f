import { createRoute, z } from '@hono/zod-openapi';
import { addNseScript } from '../../../store/repos/nse-scripts.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonBody, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { NseScriptBody, NseScriptSchema } from './schemas.ts';

export const route = createRoute({
  method: 'post',
  path: '/v1/nse-scripts',
  tags: ['nse-scripts'],
  summary: 'Add (or, with replace, change) a custom NSE script; profiles may then name it',
  security,
  middleware: [requireRole('admin')] as const,
  request: { body: jsonBody(NseScriptBody) },
  responses: {
    201: jsonContent(z.object({ script: NseScriptSchema }), 'Added'),
    200: jsonContent(z.object({ script: NseScriptSchema }), 'Replaced (new content, new sha256)'),
    ...errors(400, 401, 403, 409, 413, 503),
  },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { name, content, replace } = c.req.valid('json');
      const { replaced, ...script } = await addNseScript(c.var.deps.store, { name, content, by: c.var.principal.name }, { replace: Boolean(replace) });
      return replaced ? c.json({ script }, 200) : c.json({ script }, 201);
    });
  },
} satisfies RouteModule;
