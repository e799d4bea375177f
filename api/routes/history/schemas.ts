import { z } from '@hono/zod-openapi';
import type { HistoryEvent } from '../../../store/repos/observations.ts';

export const FieldDiffSchema = z
  .object({
    field: z
      .string()
      .openapi({ description: 'a search field (e.g. http_title, x509_sha256, banner), or script:ID for the output of a script no field extracts' }),
    old: z.array(z.string()),
    new: z.array(z.string()),
  })
  .openapi('FieldDiff');

export const EventSchema = z
  .object({
    id: z.string(),
    type: z.enum(['appeared', 'changed', 'gone', 'reappeared']),
    ip: z.string(),
    protocol: z.string(),
    port: z.number(),
    at: z.string(),
    hsh256: z.string(),
    previousHsh256: z.string().nullable(),
    observationId: z.string(),
    previousObservationId: z.string().nullable(),
    runId: z.string().nullable(),
    jobId: z.string().nullable(),
    changes: z
      .array(FieldDiffSchema)
      .nullable()
      .openapi({ description: 'changed: what changed, field by field (volatile values never listed); null otherwise' }),
    flapping: z.boolean().openapi({
      description:
        'gone/reappeared of a port flapping at that time: it went away PLUM_FLAPPING times within its window up to the event (default 3/7d); false for appeared and changed',
    }),
  })
  .openapi('ObservationEvent');

export const eventJson = (e: HistoryEvent) => ({
  id: e.id,
  type: e.type,
  ip: e.ip,
  protocol: e.protocol,
  port: e.port,
  at: e.at.toISOString(),
  hsh256: e.hsh256,
  previousHsh256: e.previous_hsh256,
  observationId: e.observation_id,
  previousObservationId: e.previous_observation_id,
  runId: e.run_id,
  jobId: e.job_id,
  changes: e.changes ?? null,
  flapping: e.flapping,
});
