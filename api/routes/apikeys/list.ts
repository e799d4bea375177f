import { createRoute, z } from '@hono/zod-openapi';
import { listApiKeys } from '../../../store/repos/apikeys.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { ApiKeySchema } from './schemas.ts';

export const route = createRoute({
  method: 'get',
  path: '/v1/apikeys',
  tags: ['apikeys'],
  summary: 'List API keys (admin)',
  security,
  middleware: [requireRole('admin')] as const,
  request: { query: z.object({ revoked: z.enum(['true', 'false']).default('false').openapi({ description: 'include revoked keys' }) }) },
  responses: { 200: jsonContent(z.object({ items: z.array(ApiKeySchema) }), 'Keys (never the secrets)'), ...errors(400, 401, 403) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { revoked } = c.req.valid('query');
      return c.json({ items: await listApiKeys(c.var.deps.store, { includeRevoked: revoked === 'true' }) }, 200);
    });
  },
} satisfies RouteModule;
