import { createRoute, z } from '@hono/zod-openapi';
import { revokeAgentToken } from '../../../store/repos/agents.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security, typedId } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { AgentTokenSchema } from './schemas.ts';

export const route = createRoute({
  method: 'delete',
  path: '/v1/agents/tokens/{id}',
  tags: ['agents'],
  summary: 'Revoke an agent token (admin); idempotent',
  security,
  middleware: [requireRole('admin')] as const,
  request: { params: z.object({ id: typedId('atok') }) },
  responses: { 200: jsonContent(z.object({ agentToken: AgentTokenSchema }), 'The revoked token'), ...errors(400, 401, 403, 404) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { id } = c.req.valid('param');
      return c.json({ agentToken: await revokeAgentToken(c.var.deps.store, id) }, 200);
    });
  },
} satisfies RouteModule;
