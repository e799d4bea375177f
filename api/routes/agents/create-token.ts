import { createRoute, z } from '@hono/zod-openapi';
import { createAgentToken } from '../../../store/repos/agents.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonBody, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { AgentSchema, AgentTokenSchema } from './schemas.ts';

const Body = z
  .object({
    agent: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be 1-63 letters, digits, dots, dashes or underscores'),
    labels: z.array(z.string().min(1).max(100)).max(50).optional(),
  })
  .strict()
  .openapi('CreateAgentToken');

export const route = createRoute({
  method: 'post',
  path: '/v1/agents/tokens',
  tags: ['agents'],
  summary: 'Issue a token for an agent (registering the agent when new; admin); the secret is returned once',
  security,
  middleware: [requireRole('admin')] as const,
  request: { body: jsonBody(Body) },
  responses: {
    201: jsonContent(z.object({ token: z.string(), agent: AgentSchema, agentToken: AgentTokenSchema }), 'The token'),
    ...errors(400, 401, 403, 413),
  },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const body = c.req.valid('json');
      const { token, agent, info } = await createAgentToken(c.var.deps.store, { agent: body.agent, labels: body.labels });
      return c.json({ token, agent, agentToken: info }, 201);
    });
  },
} satisfies RouteModule;
