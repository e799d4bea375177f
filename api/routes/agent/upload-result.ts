import { createHash } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import { createRoute, z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { MiddlewareHandler } from 'hono';
import { changeCountsOf, noChanges } from '../../../core/counts.ts';
import { PlumError } from '../../../core/errors.ts';
import { hostsOutsideJob } from '../../../core/scope.ts';
import { ingestScanResult } from '../../../store/ingest.ts';
import { jobForUpload, pinnedAddresses } from '../../../store/repos/jobs.ts';
import { expensive, requireAgent } from '../../auth.ts';
import type { ApiEnv } from '../../context.ts';
import { errors, jsonContent, security, typedId } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { parseUploadedXml } from './parse-upload.ts';
import { readScannerOutput } from '../../../core/scanner/result.ts';
import { storeResultSink } from '../../../activities/result-sinks.ts';
import { readMasscanOutput } from '../../../core/masscan/result.ts';
import type { JobSpec } from '../../../workflows/logic/types.ts';

/**
 * The agent's claim check: an agent runs nmap for a job and PUTs the XML here.
 * Idempotent per job: the same result again is a no-op (200, duplicate: true);
 * a different result for a job already ingested is refused (409). Size-limited
 * before and after gunzip, so neither a huge body nor a gzip bomb fills memory.
 * Only the agent that claimed the job may upload (POST .../claim when it
 * starts), and only hosts among the job's targets (or the addresses its names
 * were checked at) are accepted.
 */
const uploadLimit: MiddlewareHandler<ApiEnv> = async (c, next) => {
  const max = c.var.deps.limits.uploadBytes;
  return bodyLimit({
    maxSize: max,
    onError: () => {
      throw new PlumError('payload_too_large', `result larger than ${max} bytes`, {
        hint: 'gzip the XML (Content-Encoding: gzip) or split the job into smaller ones',
      });
    },
  })(c, next);
};

const Summary = z
  .object({
    jobId: z.string(),
    runId: z.string(),
    duplicate: z.boolean(),
    sha256: z.string(),
    hosts: z.number(),
    hostsUp: z.number(),
    ports: z.number(),
    appeared: z.number(),
    changed: z.number(),
    gone: z.number(),
    reappeared: z.number(),
    stable: z.number(),
    errors: z.array(z.string()),
    /** What was stored differently from how the XML lists it (a host listed twice, ports nmap omitted). */
    warnings: z.array(z.string()),
  })
  .openapi('UploadSummary');

export const route = createRoute({
  method: 'put',
  path: '/v1/agent/jobs/{jobId}/result',
  tags: ['agent'],
  summary: "Upload a job's nmap XML (agent token; gzip accepted; idempotent per job)",
  security,
  middleware: [requireAgent(), expensive, uploadLimit] as const,
  request: {
    params: z.object({ jobId: typedId('job') }),
    body: {
      required: true,
      description: 'nmap -oX output, optionally gzip-compressed (Content-Encoding: gzip or Content-Type: application/gzip)',
      content: {
        'application/xml': { schema: z.string() },
        'application/gzip': { schema: z.string().openapi({ format: 'binary' }) },
      },
    },
  },
  responses: {
    200: jsonContent(Summary, 'Stored and ingested (or the same result was already stored)'),
    ...errors(400, 401, 403, 404, 409, 413, 422, 429),
  },
});

async function readXml(req: Request, inflatedMax: number): Promise<Buffer> {
  const raw = Buffer.from(await req.arrayBuffer());
  if (raw.length === 0) throw new PlumError('invalid_input', 'empty result body', { hint: 'send the nmap XML (-oX) as the request body' });
  const encoding = (req.headers.get('content-encoding') ?? '').toLowerCase().trim();
  const type = (req.headers.get('content-type') ?? '').toLowerCase();
  const gz = encoding === 'gzip' || type.startsWith('application/gzip') || type.startsWith('application/x-gzip');
  if (encoding && encoding !== 'gzip' && encoding !== 'identity') {
    throw new PlumError('invalid_input', `unsupported Content-Encoding "${encoding}"`, { hint: 'send gzip or uncompressed XML' });
  }
  if (!gz) return raw;
  return gunzipBounded(raw, inflatedMax);
}

/**
 * nmap XML compresses about 10 to 40 times; a gzip bomb about 1,000 times. A
 * body is refused as soon as it inflates past this many times its compressed
 * size (beyond a small floor), so a bomb costs a few MB, not the whole cap.
 */
const MAX_INFLATE_RATIO = 100;
const RATIO_FLOOR_BYTES = 16 * 1024 * 1024;

/** Gunzips as a stream, stopping at the first chunk past the limit (not after inflating up to it). */
async function gunzipBounded(raw: Buffer, inflatedMax: number): Promise<Buffer> {
  const limit = Math.min(inflatedMax, Math.max(RATIO_FLOOR_BYTES, raw.length * MAX_INFLATE_RATIO));
  const gunzip = createGunzip();
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    gunzip.end(raw);
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > limit) {
        gunzip.destroy();
        throw new PlumError(
          'payload_too_large',
          limit === inflatedMax
            ? `result larger than ${inflatedMax} bytes once decompressed`
            : `result inflates to more than ${MAX_INFLATE_RATIO} times its compressed size (${raw.length} bytes): refused as a gzip bomb`,
          {
            hint: 'split the job into smaller ones, or send the XML uncompressed',
          },
        );
      }
      chunks.push(chunk);
    }
  } catch (e) {
    if (e instanceof PlumError) throw e;
    throw new PlumError('invalid_input', 'the body is not valid gzip', { hint: 'gzip the XML, or send it uncompressed without Content-Encoding' });
  }
  return Buffer.concat(chunks, total);
}

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { jobId } = c.req.valid('param');
      const { store, limits, services, config } = c.var.deps;
      const p = c.var.principal;
      if (p.kind !== 'agent') throw new Error('unreachable: requireAgent sets an agent principal');

      const job = await jobForUpload(store, jobId);
      if (!job) throw new PlumError('not_found', `no job ${jobId}`, { hint: 'upload results only for jobs the server handed out' });
      if (!job.agent) {
        throw new PlumError('conflict', `job ${jobId} was not claimed by this agent`, {
          hint: `claim the job before running it: POST /v1/agent/jobs/${jobId}/claim`,
        });
      }
      if (job.agent !== p.agent.name) {
        throw new PlumError('forbidden', `job ${jobId} is assigned to another agent`, { hint: 'upload with the token of the agent that ran the job' });
      }
      if (job.status === 'cancelled') throw new PlumError('conflict', `job ${jobId} was cancelled`, { hint: 'drop this result' });

      const xml = await readXml(c.req.raw, limits.uploadInflatedBytes);
      const sha256 = createHash('sha256').update(xml).digest('hex');
      if (job.ingested_at && job.result_sha256 && job.result_sha256 !== sha256) {
        throw new PlumError('conflict', `job ${jobId} already has a different result`, {
          hint: 'a job keeps its first result; start a new run to scan again',
          details: { storedSha256: job.result_sha256 },
        });
      }
      /** A result may only describe the job's own targets: a forged host is refused, and nothing of the result is stored. */
      const refuseOutside = (outside: string[], what: string) => {
        if (outside.length === 0) return;
        c.var.deps.log?.warn({ jobId, agent: p.agent.name, outside: outside.slice(0, 20) }, 'refused an upload with hosts outside the job');
        throw new PlumError(
          'out_of_scope',
          `the result of ${jobId} holds ${outside.length} host${outside.length > 1 ? 's' : ''} outside the job: ${outside.slice(0, 5).join(', ')}${outside.length > 5 ? ', …' : ''}`,
          { hint: `upload the unmodified ${what} of this job only`, details: { outside: outside.slice(0, 100) } },
        );
      };
      if (job.stage === 'scout') {
        // A scouting job's masscan output is ingested by its run (ingestJob), which knows whether masscan was stopped
        // early (then nothing is gone): here it is checked and kept.
        const scouted = readMasscanOutput(xml);
        if (scouted.error && scouted.hosts.length === 0) {
          throw new PlumError('parse_error', `the result of scouting job ${jobId} is not usable masscan output: ${scouted.error}`, {
            hint: 'upload the output the scouting job wrote (masscan -oX or -oJ), unmodified',
          });
        }
        refuseOutside(hostsOutsideJob(scouted.hosts, job.targets, {}), 'masscan output');
        await storeResultSink(store, { retentionDays: config.PLUM_RAW_RETENTION_DAYS }).deliver({ jobId, runId: job.run_id } as JobSpec, xml, sha256);
        return c.json(
          {
            jobId,
            runId: job.run_id,
            duplicate: Boolean(job.ingested_at),
            sha256,
            ...noChanges(),
            stable: 0,
            errors: [],
            warnings: [],
          },
          200,
        );
      }
      // A job of a TLS profile (or another scanner's) is read with that scanner's reader, in its view.
      const other = readScannerOutput(job.scanner, xml);
      if (other?.scan.error && other.scan.hosts.length === 0 && !other.scan.run.finished) {
        throw new PlumError('parse_error', `the result is not usable ${job.scanner} output: ${other.scan.error.message}`, {
          hint: "upload the output the agent's runner wrote, unmodified",
        });
      }
      const scan = other?.scan ?? parseUploadedXml(xml);
      refuseOutside(hostsOutsideJob(scan.hosts, job.targets, await pinnedAddresses(store, job.run_id)), 'nmap XML');
      const summary = await ingestScanResult(
        store,
        {
          scan,
          scope: { targets: job.targets, tcpPorts: job.tcp_ports, ...(job.udp_ports ? { udpPorts: job.udp_ports } : {}) },
          runId: job.run_id,
          jobId,
          rawXml: xml,
          source: `agent:${p.agent.name}`,
          ...(other ? { view: other.view } : {}),
          retentionDays: config.PLUM_RAW_RETENTION_DAYS,
        },
        services.ingestDeps ?? {},
      );
      return c.json(
        {
          jobId,
          runId: summary.runId,
          duplicate: Boolean(job.ingested_at) && job.result_sha256 === sha256,
          sha256,
          ...changeCountsOf(summary),
          stable: summary.stable,
          errors: summary.errors,
          warnings: summary.warnings,
        },
        200,
      );
    });
  },
} satisfies RouteModule;
