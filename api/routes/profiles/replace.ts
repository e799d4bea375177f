import { createRoute, z } from '@hono/zod-openapi';
import { PlumError } from '../../../core/errors.ts';
import { getProfile, saveProfile, setProfileEnabled } from '../../../store/repos/profiles.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonBody, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { ProfileBody, ProfileParam, ProfileSchema, requireAdminForAllowance } from './schemas.ts';

export const route = createRoute({
  method: 'put',
  path: '/v1/profiles/{name}',
  tags: ['profiles'],
  summary: 'Replace a scan profile; its schedule follows the new cycle',
  security,
  middleware: [requireRole('operator')] as const,
  request: { params: ProfileParam, body: jsonBody(ProfileBody.partial({ name: true }).openapi('ReplaceProfile')) },
  responses: { 200: jsonContent(z.object({ profile: ProfileSchema }), 'Replaced'), ...errors(400, 401, 403, 404, 413, 422, 503) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { name: key } = c.req.valid('param');
      const { enabled, ...input } = c.req.valid('json');
      const { store, services } = c.var.deps;
      const current = await getProfile(store, key);
      if (input.name !== undefined && input.name.trim().toLowerCase() !== current.name) {
        throw new PlumError('invalid_input', `the body names profile ${input.name}, the path ${current.name}`, {
          hint: 'a profile cannot be renamed: create a new one and delete the old one',
        });
      }
      // An operator's replace keeps the allowances an admin gave; only an admin can add to them.
      requireAdminForAllowance(c.var.principal, input.allowScripts, current.allowScripts);
      const allowScripts = input.allowScripts ?? current.allowScripts;
      // The scanner stays unless the body names one: a replace of a TLS profile's ports keeps it a TLS profile.
      let profile = await saveProfile(store, { ...input, allowScripts, scanner: input.scanner ?? current.scanner, name: current.name }, { replace: true });
      if (enabled !== undefined && enabled !== profile.enabled) profile = await setProfileEnabled(store, profile.id, enabled);
      await services.profileChanged?.(profile.id);
      return c.json({ profile }, 200);
    });
  },
} satisfies RouteModule;
