import { createRoute, z } from '@hono/zod-openapi';
import { PlumError } from '../../../core/errors.ts';
import { getJobRawXml } from '../../../store/repos/raw-results.ts';
import { expensive, requireRole } from '../../auth.ts';
import { errors, security, typedId } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';

export const route = createRoute({
  method: 'get',
  path: '/v1/jobs/{id}/raw',
  tags: ['runs'],
  summary: 'The nmap XML stored with a job, byte for byte (as `plum raw`); its SHA-256 and parser version in headers',
  security,
  // Up to 256 MB uncompressed in memory: rate-limited like the other heavy reads.
  middleware: [requireRole('viewer'), expensive] as const,
  request: { params: z.object({ id: typedId('job').openapi({ param: { name: 'id', in: 'path' } }) }) },
  responses: {
    200: {
      description: 'The XML nmap wrote (headers: x-plum-sha256, x-plum-parser-version, x-plum-ingest-error when the result was incomplete)',
      content: { 'application/xml': { schema: z.string() } },
    },
    ...errors(400, 401, 403, 404, 429),
  },
});

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { id } = c.req.valid('param');
      const raw = await getJobRawXml(c.var.deps.store, id);
      if (raw.found === 'no-job') throw new PlumError('not_found', `no job ${id}`, { hint: "GET /v1/runs/{id} lists a run's jobs" });
      if (raw.found === 'not-kept') {
        throw new PlumError('not_found', `no nmap XML is stored for job ${id}`, {
          hint: 'it is dropped after PLUM_RAW_RETENTION_DAYS, and never kept for files over 256 MB imported with plum ingest',
        });
      }
      const headers: Record<string, string> = {
        'content-type': 'application/xml',
        'x-plum-sha256': raw.sha256,
        'x-plum-parser-version': String(raw.parserVersion),
      };
      // Header values are one line of visible ASCII: the message is percent-encoded.
      if (raw.error) headers['x-plum-ingest-error'] = encodeURIComponent(raw.error);
      // gunzipSync returns a Buffer over an ordinary ArrayBuffer: no copy needed.
      return c.body(raw.xml as Uint8Array<ArrayBuffer>, 200, headers) as never;
    });
  },
} satisfies RouteModule;
