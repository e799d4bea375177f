import { and, asc, eq, lte, or } from 'drizzle-orm';
import { PlumError, usageError } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import { parseDuration } from '../../core/duration.ts';
import type { StoreSession } from '../index.ts';
import { reportDefinitions, type ReportDefinitionRow } from '../schema/report-definitions.ts';

export type { ReportDefinitionRow };

export const REPORT_NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,99}$/i;

export type Destination = { kind: 'dir'; path: string } | { kind: 'webhook'; url: string } | { kind: 'mailto'; address: string };

/** Parses `dir:PATH`, `webhook:URL` or `mailto:ADDR`. */
export function parseDestination(text: string): Destination {
  const t = text.trim();
  const i = t.indexOf(':');
  const scheme = i > 0 ? t.slice(0, i).toLowerCase() : '';
  const rest = i > 0 ? t.slice(i + 1).trim() : '';
  const hint = 'use dir:PATH, webhook:https://… or mailto:someone@example.org';
  if (scheme === 'dir' && rest) return { kind: 'dir', path: rest };
  if (scheme === 'webhook') {
    let url: URL;
    try {
      url = new URL(rest);
    } catch {
      throw usageError(`invalid webhook URL "${rest}"`, hint);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError(`webhook URL must be http(s): "${rest}"`, hint);
    return { kind: 'webhook', url: url.toString() };
  }
  if (scheme === 'mailto' && /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(rest)) return { kind: 'mailto', address: rest };
  throw usageError(`invalid destination "${text}"`, hint);
}

export function formatDestination(d: Destination): string {
  return d.kind === 'dir' ? `dir:${d.path}` : d.kind === 'webhook' ? `webhook:${d.url}` : `mailto:${d.address}`;
}

export interface NewReportDefinition {
  name: string;
  description?: string;
  query?: string;
  every: string;
  period?: string;
  destinations?: string[];
  hostLimit?: number;
  /** First run; default now + every. */
  nextRunAt?: Date;
}

/** Validates and stores a report definition. The query is validated by the caller (parseQuery). */
export async function createReportDefinition(store: StoreSession, input: NewReportDefinition, now = new Date()): Promise<ReportDefinitionRow> {
  if (!REPORT_NAME_RE.test(input.name)) {
    throw usageError(`invalid report name "${input.name}"`, 'use letters, digits, dot, dash or underscore (max 100), e.g. weekly-web');
  }
  const everyMs = parseDuration(input.every, '--every duration');
  if (everyMs < 3_600_000) throw usageError(`--every ${input.every} is too frequent`, 'schedule reports at most once an hour (e.g. 1h, 1d, 7d)');
  if (input.period) parseDuration(input.period, '--period duration');
  const destinations = (input.destinations ?? []).map((d) => formatDestination(parseDestination(d)));
  const hostLimit = input.hostLimit ?? 0;
  if (!Number.isInteger(hostLimit) || hostLimit < 0) throw usageError('--host-limit must be a whole number ≥ 0', 'use 0 to list every host');
  const existing = await store.db.select({ id: reportDefinitions.id }).from(reportDefinitions).where(eq(reportDefinitions.name, input.name));
  if (existing.length) {
    throw new PlumError('conflict', `a report named "${input.name}" already exists`, {
      hint: `remove it first with \`plum report rm ${input.name}\` or choose another name`,
    });
  }
  const [row] = await store.db
    .insert(reportDefinitions)
    .values({
      id: newId('rep'),
      name: input.name,
      description: input.description?.trim() || null,
      query: input.query?.trim() ?? '',
      every: input.every.trim().toLowerCase(),
      period: input.period?.trim().toLowerCase() || null,
      destinations,
      hostLimit,
      nextRunAt: input.nextRunAt ?? new Date(now.getTime() + everyMs),
      createdAt: now,
      updatedAt: now,
    })
    .returning();
  return row!;
}

export async function listReportDefinitions(store: StoreSession): Promise<ReportDefinitionRow[]> {
  return store.db.select().from(reportDefinitions).orderBy(asc(reportDefinitions.name));
}

/** By id (`rep_…`) or by name. */
export async function findReportDefinition(store: StoreSession, idOrName: string): Promise<ReportDefinitionRow | undefined> {
  const rows = await store.db
    .select()
    .from(reportDefinitions)
    .where(or(eq(reportDefinitions.id, idOrName), eq(reportDefinitions.name, idOrName)));
  return rows[0];
}

export async function getReportDefinition(store: StoreSession, idOrName: string): Promise<ReportDefinitionRow> {
  const row = await findReportDefinition(store, idOrName);
  if (!row) throw new PlumError('not_found', `no report definition "${idOrName}"`, { hint: 'list them with `plum report list`' });
  return row;
}

export async function deleteReportDefinition(store: StoreSession, idOrName: string): Promise<ReportDefinitionRow> {
  const row = await getReportDefinition(store, idOrName);
  await store.db.delete(reportDefinitions).where(eq(reportDefinitions.id, row.id));
  return row;
}

/** Records the outcome of a run and schedules the next one. */
export async function markReportRun(
  store: StoreSession,
  id: string,
  outcome: { at: Date; status: 'ok' | 'partial' | 'failed'; error?: string; nextRunAt?: Date },
): Promise<void> {
  await store.db
    .update(reportDefinitions)
    .set({
      lastRunAt: outcome.at,
      lastStatus: outcome.status,
      lastError: outcome.error ?? null,
      ...(outcome.nextRunAt ? { nextRunAt: outcome.nextRunAt } : {}),
      updatedAt: outcome.at,
    })
    .where(eq(reportDefinitions.id, id));
}

/**
 * Claims a due run for this process: moves next_run_at from `dueAt` to `next`
 * only if no other process (plum serve, plum scheduler) did it first, so a due
 * report is delivered once however many schedulers share the database.
 */
export async function claimDueReport(store: StoreSession, id: string, dueAt: Date, next: Date): Promise<boolean> {
  const rows = await store.db
    .update(reportDefinitions)
    .set({ nextRunAt: next })
    .where(and(eq(reportDefinitions.id, id), eq(reportDefinitions.nextRunAt, dueAt)))
    .returning({ id: reportDefinitions.id });
  return rows.length === 1;
}

/** Enabled definitions whose next run is due (the embedded scheduler's poll). */
export async function dueReportDefinitions(store: StoreSession, now: Date): Promise<ReportDefinitionRow[]> {
  return store.db
    .select()
    .from(reportDefinitions)
    .where(and(eq(reportDefinitions.enabled, true), lte(reportDefinitions.nextRunAt, now)))
    .orderBy(asc(reportDefinitions.nextRunAt));
}
