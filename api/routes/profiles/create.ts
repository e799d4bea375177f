import { createRoute, z } from '@hono/zod-openapi';
import { saveProfile, setProfileEnabled } from '../../../store/repos/profiles.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonBody, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { ProfileBody, ProfileSchema, requireAdminForAllowance } from './schemas.ts';

export const route = createRoute({
  method: 'post',
  path: '/v1/profiles',
  tags: ['profiles'],
  summary: 'Create a scan profile (its schedule starts at once)',
  security,
  middleware: [requireRole('operator')] as const,
  request: { body: jsonBody(ProfileBody.openapi('CreateProfile')) },
  responses: { 201: jsonContent(z.object({ profile: ProfileSchema }), 'Created'), ...errors(400, 401, 403, 409, 413, 422, 503) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { enabled, ...input } = c.req.valid('json');
      const { store, services } = c.var.deps;
      requireAdminForAllowance(c.var.principal, input.allowScripts);
      let profile = await saveProfile(store, input);
      if (enabled === false) profile = await setProfileEnabled(store, profile.id, false);
      await services.profileChanged?.(profile.id);
      return c.json({ profile }, 201);
    });
  },
} satisfies RouteModule;
