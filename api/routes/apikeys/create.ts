import { createRoute, z } from '@hono/zod-openapi';
import { createApiKey } from '../../../store/repos/apikeys.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonBody, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { ApiKeySchema } from './schemas.ts';

const Body = z
  .object({
    role: z.enum(['viewer', 'operator', 'admin']),
    name: z.string().trim().min(1).max(200).optional(),
  })
  .strict()
  .openapi('CreateApiKey');

export const route = createRoute({
  method: 'post',
  path: '/v1/apikeys',
  tags: ['apikeys'],
  summary: 'Create an API key (admin); the secret is returned once',
  security,
  middleware: [requireRole('admin')] as const,
  request: { body: jsonBody(Body) },
  responses: {
    201: jsonContent(z.object({ key: z.string(), apiKey: ApiKeySchema }), 'The new key; store it now, it is not shown again'),
    ...errors(400, 401, 403, 413),
  },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const body = c.req.valid('json');
      const principal = c.var.principal;
      const { key, info } = await createApiKey(c.var.deps.store, { role: body.role, name: body.name, createdBy: principal.name });
      return c.json({ key, apiKey: info }, 201);
    });
  },
} satisfies RouteModule;
