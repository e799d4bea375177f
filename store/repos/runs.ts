import type { StoreSession } from '../index.ts';

/**
 * Runs and their jobs as the API (GET /v1/runs…) and the CLI (`plum runs`)
 * show them: one query and one JSON shape for both.
 */
export const RUN_KINDS = ['profile', 'investigation', 'import', 'trigger'] as const;
export type RunKind = (typeof RUN_KINDS)[number];
export const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'partial'] as const;

export interface RunRow {
  id: string;
  kind: RunKind;
  profile_id: string | null;
  profile_name: string | null;
  requested_by: string | null;
  targets: string[];
  reason: string | null;
  status: string;
  scheduled_for: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  created_at: Date;
  counters: Record<string, number>;
  progress: Record<string, unknown>;
  scope_override: boolean;
  workflow_id: string | null;
  error: string | null;
}
export interface JobRow {
  id: string;
  index: number;
  targets: string[];
  address_count: number;
  tcp_ports: string;
  udp_ports: string | null;
  scripts: string[];
  /** `scout` (masscan, the first stage of a two-stage profile) or `scan` (nmap). */
  stage: 'scout' | 'scan';
  status: string;
  attempts: number;
  agent: string | null;
  started_at: Date | null;
  finished_at: Date | null;
  ingested_at: Date | null;
  error: string | null;
  progress: Record<string, unknown>;
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

const RUN_COLUMNS = `id, kind, profile_id, profile_name, requested_by, targets, reason, status, scheduled_for, started_at, finished_at,
  created_at, counters, progress, scope_override, workflow_id, error`;

export const runJson = (r: RunRow) => ({
  id: r.id,
  kind: r.kind,
  profileId: r.profile_id,
  profile: r.profile_name,
  requestedBy: r.requested_by,
  targets: r.targets,
  reason: r.reason,
  status: r.status,
  scheduledFor: iso(r.scheduled_for),
  startedAt: iso(r.started_at),
  finishedAt: iso(r.finished_at),
  createdAt: r.created_at.toISOString(),
  counters: r.counters ?? {},
  progress: r.progress ?? {},
  scopeOverride: r.scope_override,
  workflowId: r.workflow_id,
  error: r.error,
  origin: runOrigin(r),
});

/** A triggered run's origin (activities/trigger-plan.ts RunOrigin, kept in its progress when planned); null for other runs. */
export interface RunOriginJson {
  query: string;
  firingId: string;
  observationId: string;
  ip: string;
  protocol: string;
  port: number;
  hsh256: string;
  firings: number;
}
export function runOrigin(r: Pick<RunRow, 'kind' | 'progress'>): RunOriginJson | null {
  const o = r.kind === 'trigger' ? (r.progress ?? {}).origin : undefined;
  return o && typeof o === 'object' ? (o as RunOriginJson) : null;
}

export const jobJson = (j: JobRow) => ({
  id: j.id,
  index: j.index,
  targets: j.targets,
  addressCount: j.address_count,
  tcpPorts: j.tcp_ports,
  udpPorts: j.udp_ports,
  scripts: j.scripts,
  stage: j.stage,
  status: j.status,
  attempts: j.attempts,
  agent: j.agent,
  startedAt: iso(j.started_at),
  finishedAt: iso(j.finished_at),
  ingestedAt: iso(j.ingested_at),
  error: j.error,
  progress: j.progress ?? {},
});

export async function getRun(store: StoreSession, id: string): Promise<RunRow | undefined> {
  const [run] = await store.query<RunRow>(`select ${RUN_COLUMNS} from runs where id = $1`, [id]);
  return run;
}

export interface RunListQuery {
  kind?: RunKind;
  status?: string;
  profile?: string;
  limit: number;
  /** The last id of the previous page. */
  cursor?: string;
}

/** Newest first; `more` tells whether another page follows. */
export async function listRuns(store: StoreSession, q: RunListQuery): Promise<{ items: RunRow[]; more: boolean }> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (clause: string, v: unknown) => {
    params.push(v);
    where.push(clause.replace('?', `$${params.length}`));
  };
  if (q.kind) add('kind = ?', q.kind);
  if (q.status) add('status = ?', q.status);
  if (q.profile) add('profile_name = ?', q.profile);
  // Run ids are time-sorted (UUIDv7 typeids): the last id of a page is the cursor.
  if (q.cursor) add('id < ?', q.cursor);
  params.push(q.limit + 1);
  const rows = await store.query<RunRow>(
    `select ${RUN_COLUMNS} from runs ${where.length ? `where ${where.join(' and ')}` : ''} order by id desc limit $${params.length}`,
    params,
  );
  return { items: rows.slice(0, q.limit), more: rows.length > q.limit };
}

export async function listJobs(store: StoreSession, runId: string, limit = 1000): Promise<JobRow[]> {
  return store.query<JobRow>(
    `select id, index, targets, address_count, tcp_ports, udp_ports, scripts, stage, status, attempts, agent, started_at, finished_at, ingested_at,
       error, progress
       from jobs where run_id = $1 order by index limit $2`,
    [runId, limit],
  );
}

export async function jobCounts(store: StoreSession, runId: string): Promise<Record<string, number>> {
  const rows = await store.query<{ status: string; n: number }>('select status, count(*)::int as n from jobs where run_id = $1 group by status', [runId]);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

/** The earliest and latest scan times (nmap's host times) recorded by a run: its events and the sightings it refreshed last. */
export async function runScanTimes(store: StoreSession, runId: string): Promise<{ first: Date | null; last: Date | null }> {
  const [r] = await store.query<{ first: Date | null; last: Date | null }>(
    `select min(t) as first, max(t) as last from (
       select at as t from observation_events where run_id = $1
       union all select checked_at as t from observation_sightings where last_run_id = $1
     ) s`,
    [runId],
  );
  return { first: r?.first ? new Date(r.first) : null, last: r?.last ? new Date(r.last) : null };
}

/** Runs active in [from, to) by status: how many, and the latest start or end among them (a report's coverage). */
export async function runStatusInPeriod(store: StoreSession, from: string, to: string): Promise<Array<{ status: string; n: number; last: Date | null }>> {
  const rows = await store.query<{ status: string; n: number; last: Date | null }>(
    `select status, count(*)::int as n, max(coalesce(finished_at, started_at)) as last from runs
     where coalesce(finished_at, started_at, created_at) >= $1::timestamptz and coalesce(finished_at, started_at, created_at) < $2::timestamptz group by status`,
    [from, to],
  );
  return rows.map((r) => ({ status: r.status, n: Number(r.n), last: r.last ? new Date(r.last) : null }));
}

/**
 * The run a workflow planned, with its plan (progress); undefined when the workflow has not planned one yet.
 * Only scan runs have a workflow (imports do not).
 */
export async function runOfWorkflow<P = Record<string, unknown>>(
  store: StoreSession,
  workflowId: string,
): Promise<{ id: string; kind: Exclude<RunKind, 'import'>; profile_name: string | null; progress: P } | undefined> {
  const [row] = await store.query<{ id: string; kind: Exclude<RunKind, 'import'>; profile_name: string | null; progress: P }>(
    'select id, kind, profile_name, progress from runs where workflow_id = $1',
    [workflowId],
  );
  return row;
}

/** The id of the run a workflow planned; undefined until it has planned one. */
export async function runIdOfWorkflow(store: StoreSession, workflowId: string): Promise<string | undefined> {
  const [row] = await store.query<{ id: string }>('select id from runs where workflow_id = $1', [workflowId]);
  return row?.id;
}

/** The workflow id of a run: undefined when there is no such run, null when it runs without a workflow. */
export async function workflowIdOfRun(store: StoreSession, runId: string): Promise<string | null | undefined> {
  const [row] = await store.query<{ workflow_id: string | null }>('select workflow_id from runs where id = $1', [runId]);
  return row ? row.workflow_id : undefined;
}

/** A run's plan (the progress column written when it was planned); undefined when there is no such run. */
export async function runProgress<P = Record<string, unknown>>(store: StoreSession, runId: string): Promise<P | undefined> {
  const [run] = await store.query<{ progress: P }>('select progress from runs where id = $1', [runId]);
  return run?.progress;
}

/** A planned scan run, stored as running. */
export interface NewScanRun {
  id: string;
  kind: Exclude<RunKind, 'import'>;
  profileId: string | null;
  profileName: string | null;
  requestedBy: string | null;
  targets: string[];
  reason: string | null;
  scheduledFor: string | null;
  startedAt: string;
  scopeOverride: boolean;
  scopeOverrideReason: string | null;
  progress: object;
  workflowId: string;
}
export async function insertScanRun(tx: StoreSession, r: NewScanRun): Promise<void> {
  await tx.query(
    `insert into runs (id, kind, profile_id, profile_name, requested_by, targets, reason, scheduled_for, started_at, status,
       scope_override, scope_override_reason, progress, workflow_id)
     values ($1, $2, $3, $4, $5, $6::text[], $7, $8, $9, 'running', $10, $11, $12::jsonb, $13)`,
    [
      r.id,
      r.kind,
      r.profileId,
      r.profileName,
      r.requestedBy,
      r.targets,
      r.reason,
      r.scheduledFor,
      r.startedAt,
      r.scopeOverride,
      r.scopeOverrideReason,
      JSON.stringify(r.progress),
      r.workflowId,
    ],
  );
}

/** Records how a run ended: its status, counters and errors (joined, cut to 4,000 characters; null for none). */
export async function recordRunEnd(
  store: StoreSession,
  runId: string,
  end: { status: string; at: Date; counters: object; errors: readonly string[] },
): Promise<void> {
  await store.query(`update runs set status = $2, finished_at = $3, counters = $4::jsonb, error = $5 where id = $1`, [
    runId,
    end.status,
    end.at.toISOString(),
    JSON.stringify(end.counters),
    end.errors.length ? end.errors.join('; ').slice(0, 4000) : null,
  ]);
}

/** Runs (and imports) by status, for the metrics endpoint. */
export async function runsByStatus(store: StoreSession): Promise<Map<string, number>> {
  const rows = await store.query<{ k: string; n: number }>('select status as k, count(*)::int as n from runs group by status');
  return new Map(rows.map((r) => [r.k, Number(r.n)]));
}

/** The sums over all runs of the named counters (a missing counter counts 0). */
export async function runCounterTotals(store: StoreSession, keys: readonly string[]): Promise<Record<string, number>> {
  const sums = keys.map((k) => `coalesce(sum((counters->>'${k.replace(/'/g, "''")}')::bigint), 0)::bigint as "${k.replace(/"/g, '""')}"`).join(', ');
  return (await store.query<Record<string, number>>(`select ${sums} from runs`))[0] ?? {};
}

/** Runs the event feed reports on: queued or running, or finished within two minutes; oldest first, at most 200. */
export async function recentRunStates(
  store: StoreSession,
): Promise<Array<{ id: string; kind: string; status: string; progress: unknown; counters: unknown; profile_name: string | null }>> {
  return store.query(
    `select id, kind, status, progress, counters, profile_name from runs
      where status in ('queued', 'running') or finished_at > now() - interval '2 minutes'
      order by created_at limit 200`,
  );
}
