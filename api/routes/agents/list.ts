import { createRoute, z } from '@hono/zod-openapi';
import { listAgents } from '../../../store/repos/agents.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { AgentSchema } from './schemas.ts';

export const route = createRoute({
  method: 'get',
  path: '/v1/agents',
  tags: ['agents'],
  summary: 'Registered agents, their last heartbeat and current job',
  security,
  middleware: [requireRole('viewer')] as const,
  responses: { 200: jsonContent(z.object({ items: z.array(AgentSchema) }), 'Agents by name'), ...errors(401, 403) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => c.json({ items: await listAgents(c.var.deps.store) }, 200));
  },
} satisfies RouteModule;
