import { createRoute, z } from '@hono/zod-openapi';
import { PlumError } from '../../../core/errors.ts';
import { claimJob, jobWorkflowId } from '../../../store/repos/jobs.ts';
import { requireAgent } from '../../auth.ts';
import { errors, jsonContent, security, typedId } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';

/**
 * An agent claims a job when it starts it: from then on only that agent may
 * upload the job's result. Idempotent for the same agent (a retried activity
 * claims again); another agent is refused with 403, unless it runs a later
 * Temporal attempt of the job (the earlier attempt was lost). In distributed
 * mode the server first asks Temporal that the job's nmap activity runs now,
 * at that attempt, on this agent's worker (workers/job-claims.ts): a token
 * alone cannot take or supersede a job dispatched to another agent.
 */
export const route = createRoute({
  method: 'post',
  path: '/v1/agent/jobs/{jobId}/claim',
  tags: ['agent'],
  summary: 'Claim a job before running it (agent token; idempotent; a job Temporal dispatched to another agent is refused)',
  security,
  middleware: [requireAgent()] as const,
  request: {
    params: z.object({ jobId: typedId('job') }),
    query: z.object({
      attempt: z.coerce
        .number()
        .int()
        .min(1)
        .max(1000)
        .default(1)
        .openapi({ description: 'the Temporal attempt running the job: a later attempt (a retry after a lost agent) supersedes an earlier claim' }),
    }),
  },
  responses: {
    200: jsonContent(z.object({ jobId: z.string(), runId: z.string(), agent: z.string() }).openapi('JobClaim'), 'Claimed by this agent'),
    ...errors(400, 401, 403, 404, 409),
  },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { jobId } = c.req.valid('param');
      const p = c.var.principal;
      if (p.kind !== 'agent') throw new Error('unreachable: requireAgent sets an agent principal');
      const { attempt } = c.req.valid('query');
      const { store, services, log } = c.var.deps;
      if (services.verifyJobClaim) {
        const found = await jobWorkflowId(store, jobId);
        if (!found) throw new PlumError('not_found', `no job ${jobId}`, { hint: 'claim only jobs the server handed out' });
        try {
          await services.verifyJobClaim({ jobId, workflowId: found.workflowId, agent: p.agent.name, attempt });
        } catch (e) {
          if (e instanceof PlumError && e.code !== 'unavailable')
            log.warn({ jobId, agent: p.agent.name, attempt, reason: e.message }, 'refused a job claim Temporal did not dispatch to this agent');
          throw e;
        }
      }
      const job = await claimJob(store, jobId, p.agent.name, attempt);
      return c.json({ jobId: job.id, runId: job.runId, agent: job.agent }, 200);
    });
  },
} satisfies RouteModule;
