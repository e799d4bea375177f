import { createRoute, z } from '@hono/zod-openapi';
import { recordHeartbeat } from '../../../store/repos/agents.ts';
import { requireAgent } from '../../auth.ts';
import { errors, jsonBody, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { AgentSchema } from '../agents/schemas.ts';

const Body = z
  .object({
    currentJobId: z
      .string()
      .regex(/^job_[0-9a-z]{26}$/, 'must be a job_… id')
      .nullable()
      .optional(),
    version: z.string().min(1).max(100).optional(),
  })
  .strict()
  .openapi('AgentHeartbeat');

export const route = createRoute({
  method: 'post',
  path: '/v1/agent/heartbeat',
  tags: ['agent'],
  summary: 'An agent reports it is alive and which job it runs (agent token)',
  security,
  middleware: [requireAgent()] as const,
  request: { body: jsonBody(Body) },
  responses: { 200: jsonContent(z.object({ agent: AgentSchema }), 'Recorded'), ...errors(400, 401, 403) },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const body = c.req.valid('json');
      const p = c.var.principal;
      if (p.kind !== 'agent') throw new Error('unreachable: requireAgent sets an agent principal');
      return c.json({ agent: await recordHeartbeat(c.var.deps.store, p.agent.id, body) }, 200);
    });
  },
} satisfies RouteModule;
