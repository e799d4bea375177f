import { createRoute, z } from '@hono/zod-openapi';
import { revokeApiKey } from '../../../store/repos/apikeys.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security, typedId } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { ApiKeySchema } from './schemas.ts';

export const route = createRoute({
  method: 'delete',
  path: '/v1/apikeys/{id}',
  tags: ['apikeys'],
  summary: 'Revoke an API key (admin); idempotent',
  security,
  middleware: [requireRole('admin')] as const,
  request: { params: z.object({ id: typedId('key') }) },
  responses: { 200: jsonContent(z.object({ apiKey: ApiKeySchema }), 'The revoked key'), ...errors(400, 401, 403, 404) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { id } = c.req.valid('param');
      return c.json({ apiKey: await revokeApiKey(c.var.deps.store, id) }, 200);
    });
  },
} satisfies RouteModule;
