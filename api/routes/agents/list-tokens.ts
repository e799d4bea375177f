import { createRoute, z } from '@hono/zod-openapi';
import { listAgentTokens } from '../../../store/repos/agents.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { AgentTokenSchema } from './schemas.ts';

export const route = createRoute({
  method: 'get',
  path: '/v1/agents/tokens',
  tags: ['agents'],
  summary: 'List agent tokens (admin; never the secrets)',
  security,
  middleware: [requireRole('admin')] as const,
  request: { query: z.object({ revoked: z.enum(['true', 'false']).default('false').openapi({ description: 'include revoked tokens' }) }) },
  responses: { 200: jsonContent(z.object({ items: z.array(AgentTokenSchema) }), 'Tokens'), ...errors(400, 401, 403) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { revoked } = c.req.valid('query');
      return c.json({ items: await listAgentTokens(c.var.deps.store, { includeRevoked: revoked === 'true' }) }, 200);
    });
  },
} satisfies RouteModule;
