import { z } from '@hono/zod-openapi';

export const AgentSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    labels: z.array(z.string()),
    note: z.string().nullable(),
    version: z.string().nullable(),
    lastHeartbeatAt: z.string().nullable(),
    currentJobId: z.string().nullable(),
    createdAt: z.string(),
    disabledAt: z.string().nullable(),
  })
  .openapi('Agent');

export const AgentTokenSchema = z
  .object({
    id: z.string(),
    agentId: z.string(),
    prefix: z.string(),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .openapi('AgentToken');
