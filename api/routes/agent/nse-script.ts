import { createRoute, z } from '@hono/zod-openapi';
import { PlumError } from '../../../core/errors.ts';
import { nseScriptByHash } from '../../../store/repos/nse-scripts.ts';
import { requireAgent } from '../../auth.ts';
import { errors, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';

/** An agent fetches a custom NSE script a job names, by the SHA-256 the job carries (and checks it: activities/nse-source.ts). */
export const route = createRoute({
  method: 'get',
  path: '/v1/agent/nse-scripts/{sha256}',
  tags: ['agent'],
  summary: "A custom NSE script's content by its SHA-256 (agent token)",
  security,
  middleware: [requireAgent()] as const,
  request: {
    params: z.object({
      sha256: z
        .string()
        .regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits')
        .openapi({ param: { name: 'sha256', in: 'path' } }),
    }),
  },
  responses: {
    200: { description: 'The script (header x-plum-nse-name: its name)', content: { 'text/x-lua': { schema: z.string() } } },
    ...errors(400, 401, 403, 404),
  },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { sha256 } = c.req.valid('param');
      const found = await nseScriptByHash(c.var.deps.store, sha256);
      if (!found)
        throw new PlumError('not_found', `no custom NSE script has sha256 ${sha256}`, { hint: 'it was replaced or removed after the run was planned' });
      return c.body(new Uint8Array(found.content), 200, { 'content-type': 'text/x-lua; charset=utf-8', 'x-plum-nse-name': found.name }) as never;
    });
  },
} satisfies RouteModule;
