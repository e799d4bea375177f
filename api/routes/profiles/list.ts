import { createRoute, z } from '@hono/zod-openapi';
import { listProfiles } from '../../../store/repos/profiles.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { ProfileSchema } from './schemas.ts';

export const route = createRoute({
  method: 'get',
  path: '/v1/profiles',
  tags: ['profiles'],
  summary: 'List scan profiles (the built-in banner and web profiles included)',
  security,
  middleware: [requireRole('viewer')] as const,
  responses: { 200: jsonContent(z.object({ items: z.array(ProfileSchema) }), 'Profiles by name'), ...errors(401, 403) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => c.json({ items: await listProfiles(c.var.deps.store) }, 200));
  },
} satisfies RouteModule;
