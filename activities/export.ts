import type { ExportRecord } from '../core/export/record.ts';
import { exportChunks, EXPORT_CONTENT_TYPES, parseExportFormat, type ExportFormat } from '../core/export/stream.ts';
import type { ReportPeriod } from '../core/report/model.ts';
import type { MispEventOptions } from '../core/report/misp.ts';
import { resolvePeriod, type PeriodOptions } from '../core/report/period.ts';
import type { StoreSession } from '../store/index.ts';
import { compileQueryFilter, queryWhere, scanMatching, type ObservationRow } from '../store/repos/observation-rows.ts';

/** Exports (`plum export`, the HTTP API): matching observations as JSON, CSV, NDJSON or MISP, streamed. */

export function toExportRecord(r: ObservationRow): ExportRecord {
  return {
    id: r.id,
    ip: r.ip,
    protocol: r.protocol,
    port: r.port,
    state: r.state,
    hsh256: r.hsh256,
    firstSeen: r.first_seen.toISOString(),
    lastSeen: r.last_seen.toISOString(),
    timesSeen: r.times_seen,
    fields: r.fields,
    tags: r.tags,
    score: r.score,
    hostnames: r.hostnames,
  };
}

export interface ExportOptions extends PeriodOptions {
  format: string;
  query?: string;
  now?: Date;
  /** MISP event options (info defaults to a description of the export). */
  misp?: Partial<MispEventOptions>;
  batchSize?: number;
}

/**
 * Matching observations as records. Without a period: the current exposure
 * (current open ports). With --since/--from/--to: every observation seen during
 * the period, including ones that changed or went away since.
 */
export async function* exportRecords(
  store: StoreSession,
  opts: { query?: string; period?: ReportPeriod; now?: Date; batchSize?: number },
): AsyncGenerator<ExportRecord> {
  const now = opts.now ?? new Date();
  const scan = scanMatching(store, queryWhere(opts.query, now), {
    ...(opts.period ? { overlapping: opts.period } : {}),
    ...(opts.batchSize ? { batchSize: opts.batchSize } : {}),
  });
  for await (const r of scan) yield toExportRecord(r);
}

/**
 * The streaming export used by `plum export` and the HTTP API: validates the
 * options up front (so a bad query fails before any byte is written), then
 * returns the content type and an async iterator of text chunks.
 */
export function exportObservations(store: StoreSession, opts: ExportOptions): { format: ExportFormat; contentType: string; chunks: AsyncGenerator<string> } {
  const format = parseExportFormat(opts.format);
  const now = opts.now ?? new Date();
  const period = opts.since || opts.from || opts.to ? resolvePeriod(opts, now) : undefined;
  compileQueryFilter(opts.query, now); // throws on a syntax error before streaming starts
  const records = exportRecords(store, { query: opts.query, period, now, batchSize: opts.batchSize });
  const scope = `${opts.query?.trim() ? `query ${opts.query.trim()}` : 'all observations'}${period ? `, ${period.from} → ${period.to}` : ', current exposure'}`;
  const chunks = exportChunks(records, format, {
    meta: { query: opts.query?.trim() ?? '', period: period ? { from: period.from, to: period.to } : null, generated_at: now.toISOString() },
    misp: { info: `Plum perimeter export: ${scope}`, now, ...opts.misp },
  });
  return { format, contentType: EXPORT_CONTENT_TYPES[format], chunks };
}
