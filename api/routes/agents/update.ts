import { createRoute, z } from '@hono/zod-openapi';
import { setAgentDisabled } from '../../../store/repos/agents.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonBody, jsonContent, security, typedId } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { AgentSchema } from './schemas.ts';

export const route = createRoute({
  method: 'patch',
  path: '/v1/agents/{id}',
  tags: ['agents'],
  summary: 'Disable an agent (all its tokens are refused) or enable it again (admin)',
  security,
  middleware: [requireRole('admin')] as const,
  request: {
    params: z.object({ id: typedId('agent').openapi({ param: { name: 'id', in: 'path' } }) }),
    body: jsonBody(z.object({ disabled: z.boolean() }).strict().openapi('UpdateAgent')),
  },
  responses: { 200: jsonContent(z.object({ agent: AgentSchema }), 'The agent'), ...errors(400, 401, 403, 404, 413) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { id } = c.req.valid('param');
      const { disabled } = c.req.valid('json');
      return c.json({ agent: await setAgentDisabled(c.var.deps.store, id, disabled) }, 200);
    });
  },
} satisfies RouteModule;
