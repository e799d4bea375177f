import { createRoute, z } from '@hono/zod-openapi';
import { removeProfile } from '../../../store/repos/profiles.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { ProfileParam, ProfileSchema } from './schemas.ts';

export const route = createRoute({
  method: 'delete',
  path: '/v1/profiles/{name}',
  tags: ['profiles'],
  summary: 'Delete a scan profile and its schedule (its runs stay in history)',
  security,
  middleware: [requireRole('operator')] as const,
  request: { params: ProfileParam },
  responses: { 200: jsonContent(z.object({ profile: ProfileSchema }), 'Deleted'), ...errors(400, 401, 403, 404) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { store, services } = c.var.deps;
      const profile = await removeProfile(store, c.req.valid('param').name);
      await services.profileChanged?.(profile.id);
      return c.json({ profile }, 200);
    });
  },
} satisfies RouteModule;
