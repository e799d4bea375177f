import { usageError } from '../errors.ts';
import { createMispEventWriter, type MispEventOptions } from '../report/misp.ts';
import { CSV_COLUMNS, flattenRecord, type ExportRecord } from './record.ts';

export const EXPORT_FORMATS = ['json', 'ndjson', 'csv', 'misp'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  json: 'application/json; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  misp: 'application/json; charset=utf-8',
};

export function parseExportFormat(text: string): ExportFormat {
  const f = text.trim().toLowerCase();
  if ((EXPORT_FORMATS as readonly string[]).includes(f)) return f as ExportFormat;
  throw usageError(`unknown export format "${text}"`, `use one of ${EXPORT_FORMATS.join(', ')}`);
}

/** The JSON/NDJSON view of a record: stable snake_case keys. */
export function recordToJson(r: ExportRecord): Record<string, unknown> {
  return {
    id: r.id,
    ip: r.ip,
    protocol: r.protocol,
    port: r.port,
    state: r.state,
    first_seen: r.firstSeen,
    last_seen: r.lastSeen,
    times_seen: r.timesSeen,
    score: r.score,
    tags: r.tags,
    hostnames: r.hostnames,
    hsh256: r.hsh256,
    fields: r.fields,
  };
}

const csvCell = (s: string): string => {
  // Neutralise spreadsheet formulas (CSV injection) and quote when needed.
  const safe = /^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
};

/** One CSV line (CRLF) of the given cells, quoted and formula-neutralised like the export's rows. */
export function csvLine(cells: readonly string[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}

export function csvHeader(): string {
  return `${CSV_COLUMNS.join(',')}\r\n`;
}

export function csvRow(r: ExportRecord): string {
  const flat = flattenRecord(r);
  return `${CSV_COLUMNS.map((c) => csvCell(flat[c])).join(',')}\r\n`;
}

export interface ExportStreamOptions {
  /** MISP only: event options (info, uuid, tags...). */
  misp?: MispEventOptions;
  /** JSON only: metadata written before the records (query, period...). */
  meta?: Record<string, unknown>;
}

/**
 * Turns a stream of records into a stream of text chunks in the requested
 * format, without holding more than one record in memory. The CLI pipes it to
 * stdout; the HTTP API streams it as the response body.
 */
export async function* exportChunks(records: AsyncIterable<ExportRecord>, format: ExportFormat, opts: ExportStreamOptions = {}): AsyncGenerator<string> {
  switch (format) {
    case 'ndjson':
      for await (const r of records) yield `${JSON.stringify(recordToJson(r))}\n`;
      return;
    case 'csv':
      yield csvHeader();
      for await (const r of records) yield csvRow(r);
      return;
    case 'json': {
      const meta = opts.meta ? `${JSON.stringify(opts.meta).slice(1, -1)}${Object.keys(opts.meta).length ? ',' : ''}` : '';
      yield `{${meta}"observations":[`;
      let n = 0;
      for await (const r of records) {
        yield `${n === 0 ? '\n' : ',\n'}${JSON.stringify(recordToJson(r))}`;
        n++;
      }
      yield `\n],"count":${n}}\n`;
      return;
    }
    case 'misp': {
      const w = createMispEventWriter(opts.misp ?? { info: 'Plum export' });
      yield w.head();
      for await (const r of records) yield w.object(r);
      yield w.tail();
      return;
    }
  }
}
