import { createRoute, z } from '@hono/zod-openapi';
import { getProfile } from '../../../store/repos/profiles.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { ProfileParam, ProfileSchema } from './schemas.ts';

export const route = createRoute({
  method: 'get',
  path: '/v1/profiles/{name}',
  tags: ['profiles'],
  summary: 'Show a scan profile (by name or id)',
  security,
  middleware: [requireRole('viewer')] as const,
  request: { params: ProfileParam },
  responses: { 200: jsonContent(z.object({ profile: ProfileSchema }), 'The profile'), ...errors(400, 401, 403, 404) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => c.json({ profile: await getProfile(c.var.deps.store, c.req.valid('param').name) }, 200));
  },
} satisfies RouteModule;
