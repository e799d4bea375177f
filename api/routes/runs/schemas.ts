import { z } from '@hono/zod-openapi';
import type { StoreSession } from '../../../store/index.ts';
import { PlumError } from '../../../core/errors.ts';
import { typedId } from '../../schemas.ts';
import { RUN_KINDS, getRun, type RunRow } from '../../../store/repos/runs.ts';

export const RunSchema = z
  .object({
    id: z.string(),
    kind: z.enum(RUN_KINDS),
    profileId: z.string().nullable(),
    profile: z.string().nullable(),
    requestedBy: z.string().nullable(),
    targets: z.array(z.string()),
    reason: z.string().nullable(),
    status: z.string(),
    scheduledFor: z.string().nullable(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    createdAt: z.string(),
    counters: z.record(z.string(), z.number()),
    progress: z.record(z.string(), z.unknown()),
    scopeOverride: z.boolean(),
    workflowId: z.string().nullable(),
    error: z.string().nullable(),
    origin: z
      .object({
        query: z.string(),
        firingId: z.string(),
        observationId: z.string(),
        ip: z.string(),
        protocol: z.string(),
        port: z.number(),
        hsh256: z.string(),
        firings: z.number(),
      })
      .nullable()
      .openapi({ description: 'A triggered run (kind trigger): the trigger query and the finding that fired first; firings counts those the run scans' }),
  })
  .openapi('Run');

export const JobSchema = z
  .object({
    id: z.string(),
    index: z.number(),
    targets: z.array(z.string()),
    addressCount: z.number(),
    tcpPorts: z.string(),
    udpPorts: z.string().nullable(),
    scripts: z.array(z.string()),
    stage: z.enum(['scout', 'scan']).openapi({ description: "scout: a masscan sweep, a two-stage profile's first stage; scan: an nmap job" }),
    status: z.string(),
    attempts: z.number(),
    agent: z.string().nullable(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    ingestedAt: z.string().nullable(),
    error: z.string().nullable(),
    progress: z.record(z.string(), z.unknown()),
  })
  .openapi('Job');

export const RunIdParam = z.object({ id: typedId('run').openapi({ param: { name: 'id', in: 'path' } }) });

/** Throws the API's 404 for an unknown run (or a run of another kind). */
export async function loadRun(store: StoreSession, id: string, kind?: 'investigation'): Promise<RunRow> {
  const run = await getRun(store, id);
  if (!run || (kind && run.kind !== kind)) {
    throw new PlumError('not_found', `no ${kind ?? 'run'} ${id}`, { hint: kind ? 'start one with POST /v1/investigations' : 'list runs with GET /v1/runs' });
  }
  return run;
}
