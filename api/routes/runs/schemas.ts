import { z } from '@hono/zod-openapi';
import type { StoreSession } from '../../../store/index.ts';
import { PlumError } from '../../../core/errors.ts';
import { typedId } from '../../schemas.ts';

export const RunSchema = z.object({
  id: z.string(),
  kind: z.enum(['profile', 'investigation', 'import']),
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
}).openapi('Run');

export const JobSchema = z.object({
  id: z.string(),
  index: z.number(),
  targets: z.array(z.string()),
  addressCount: z.number(),
  tcpPorts: z.string(),
  udpPorts: z.string().nullable(),
  scripts: z.array(z.string()),
  status: z.string(),
  attempts: z.number(),
  agent: z.string().nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  ingestedAt: z.string().nullable(),
  error: z.string().nullable(),
  progress: z.record(z.string(), z.unknown()),
}).openapi('Job');

export const RunIdParam = z.object({ id: typedId('run').openapi({ param: { name: 'id', in: 'path' } }) });

interface RunDb {
  id: string; kind: 'profile' | 'investigation' | 'import'; profile_id: string | null; profile_name: string | null; requested_by: string | null;
  targets: string[]; reason: string | null; status: string; scheduled_for: Date | null; started_at: Date | null; finished_at: Date | null;
  created_at: Date; counters: Record<string, number>; progress: Record<string, unknown>; scope_override: boolean; workflow_id: string | null; error: string | null;
}
interface JobDb {
  id: string; index: number; targets: string[]; address_count: number; tcp_ports: string; udp_ports: string | null; scripts: string[];
  status: string; attempts: number; agent: string | null; started_at: Date | null; finished_at: Date | null; ingested_at: Date | null;
  error: string | null; progress: Record<string, unknown>;
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

export const RUN_COLUMNS = `id, kind, profile_id, profile_name, requested_by, targets, reason, status, scheduled_for, started_at, finished_at,
  created_at, counters, progress, scope_override, workflow_id, error`;

export const runJson = (r: RunDb) => ({
  id: r.id, kind: r.kind, profileId: r.profile_id, profile: r.profile_name, requestedBy: r.requested_by, targets: r.targets, reason: r.reason,
  status: r.status, scheduledFor: iso(r.scheduled_for), startedAt: iso(r.started_at), finishedAt: iso(r.finished_at), createdAt: r.created_at.toISOString(),
  counters: r.counters ?? {}, progress: r.progress ?? {}, scopeOverride: r.scope_override, workflowId: r.workflow_id, error: r.error,
});

export const jobJson = (j: JobDb) => ({
  id: j.id, index: j.index, targets: j.targets, addressCount: j.address_count, tcpPorts: j.tcp_ports, udpPorts: j.udp_ports, scripts: j.scripts,
  status: j.status, attempts: j.attempts, agent: j.agent, startedAt: iso(j.started_at), finishedAt: iso(j.finished_at), ingestedAt: iso(j.ingested_at),
  error: j.error, progress: j.progress ?? {},
});

export async function loadRun(store: StoreSession, id: string, kind?: 'investigation'): Promise<RunDb> {
  const [run] = await store.query<RunDb>(`select ${RUN_COLUMNS} from runs where id = $1`, [id]);
  if (!run || (kind && run.kind !== kind)) {
    throw new PlumError('not_found', `no ${kind ?? 'run'} ${id}`, { hint: kind ? 'start one with POST /v1/investigations' : 'list runs with GET /v1/runs' });
  }
  return run;
}

export async function loadJobs(store: StoreSession, runId: string, limit = 1000): Promise<JobDb[]> {
  return store.query<JobDb>(
    `select id, index, targets, address_count, tcp_ports, udp_ports, scripts, status, attempts, agent, started_at, finished_at, ingested_at, error, progress
       from jobs where run_id = $1 order by index limit $2`, [runId, limit]);
}

export async function jobCounts(store: StoreSession, runId: string): Promise<Record<string, number>> {
  const rows = await store.query<{ status: string; n: number }>('select status, count(*)::int as n from jobs where run_id = $1 group by status', [runId]);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}
