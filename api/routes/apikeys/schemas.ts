import { z } from '@hono/zod-openapi';

export const ApiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    role: z.enum(['viewer', 'operator', 'admin']),
    prefix: z.string().openapi({ description: 'First characters of the key, to tell keys apart' }),
    createdBy: z.string().nullable(),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .openapi('ApiKey');
