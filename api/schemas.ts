import { z } from '@hono/zod-openapi';

/** Shared OpenAPI schemas and response sets. */
export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'invalid_input' }),
      message: z.string(),
      requestId: z.string(),
      hint: z.string().optional(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .openapi('Error');

const errorContent = (description: string) => ({ description, content: { 'application/json': { schema: ErrorSchema } } });

export const ERRORS = {
  400: errorContent('Invalid input (one line naming the field)'),
  401: errorContent('Missing, invalid or revoked key/token'),
  403: errorContent('The key lacks the role, or the token belongs to another agent'),
  404: errorContent('Not found'),
  409: errorContent('Conflict'),
  413: errorContent('Request body too large'),
  422: errorContent('Refused (e.g. targets outside the perimeter, unsafe arguments)'),
  429: errorContent('Rate limited'),
  503: errorContent('Service not available in this mode'),
} as const;

/** The error responses of a route with the given statuses. */
export function errors<const S extends keyof typeof ERRORS>(...statuses: S[]): Pick<typeof ERRORS, S> {
  const out = {} as Pick<typeof ERRORS, S>;
  for (const s of statuses) out[s] = ERRORS[s];
  return out;
}

export const security = [{ bearer: [] as string[] }];

export const jsonContent = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

export const jsonBody = <T extends z.ZodType>(schema: T) => ({
  required: true,
  content: { 'application/json': { schema } },
});

/** `?limit=&cursor=` paging shared by listings. */
export const PagingQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ example: 100 }),
  cursor: z.string().min(1).max(500).optional(),
});

/** A typed id in a path parameter: `<prefix>_` then 26 base32 characters. */
export const typedId = (prefix: string) => z.string().regex(new RegExp(`^${prefix}_[0-9a-z]{26}$`), `must be a ${prefix}_… id`);
