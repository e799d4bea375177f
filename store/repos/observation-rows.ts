import { sql, type SQL } from 'drizzle-orm';
import { emptySearchFields, type SearchFields } from '../../core/fields.ts';
import { matchFields, parseQuery, type QueryNode } from '../../core/query/index.ts';
import type { StoreSession } from '../index.ts';
import { compileWhere, observationsFrom, observationsFromText } from '../search/compile.ts';

/** Observations as reports, exports and webhooks read them: columns, scans by query and period, row mapping. */

/** One row of port_observations as read here. */
export interface ObservationRow {
  id: string;
  ip: string;
  protocol: string;
  port: number;
  state: string;
  current: boolean;
  hsh256: string;
  first_seen: Date;
  last_seen: Date;
  times_seen: number;
  fields: SearchFields;
  tags: string[];
  score: number;
  score_features: Record<string, unknown> | null;
  hostnames: string[];
  last_run_id: string | null;
  last_job_id: string | null;
}

/** What OBS_COLUMNS reads from: port_observations `po` with its sightings `po_s`. */
const OBS_FROM = observationsFromText('po', 'inner');

// Times as epoch milliseconds: parsing timestamp text into Dates row by row dominated large reports.
const OBS_COLUMNS = `po.id, host(po.ip) as ip, po.protocol, po.port, po.state, po.current, po.hsh256,
  (extract(epoch from po.first_seen) * 1000)::float8 as first_ms, (extract(epoch from po_s.last_seen) * 1000)::float8 as last_ms, po_s.times_seen,
  po.fields, po.tags, po.score, po.score_features, po.hostnames, po_s.last_run_id, po_s.last_job_id`;

/**
 * Scan of port_observations (alias `po`) where `where` holds, in id order.
 * Two phases: the matching ids first (one narrow sorted read), then the rows by
 * primary key in pages. Keyset pages over the full rows made the database
 * re-sort the whole match for every page (quadratic on large reports); this
 * stays linear on both drivers and never holds more than one page of rows.
 */
export async function* scanObservations(store: StoreSession, where: SQL, batchSize = 5000, columns = OBS_COLUMNS): AsyncGenerator<ObservationRow> {
  const ids = (await store.query<{ id: string }>(sql`select po.id from ${observationsFrom('po')} where ${where} order by po.id`)).map((r) => r.id);
  for (let i = 0; i < ids.length; i += batchSize) {
    const page = ids.slice(i, i + batchSize);
    const rows = await store.query<RawObservationRow>(`select ${columns} from ${OBS_FROM} where po.id = any($1::text[]) order by po.id`, [page]);
    // Projected column sets (REPORT_COLUMNS) already carry every field they read.
    const fill = columns === OBS_COLUMNS;
    for (const r of rows) yield normaliseRow(r, fill);
  }
}

/** Rows by id (OBS_COLUMNS), in pages of `pageSize` ids; ids repeated or unknown are skipped. */
export async function observationRowsById(store: StoreSession, ids: readonly string[], pageSize = 1000): Promise<Map<string, ObservationRow>> {
  const out = new Map<string, ObservationRow>();
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += pageSize) {
    const rows = await store.query<RawObservationRow>(`select ${OBS_COLUMNS} from ${OBS_FROM} where po.id = any($1::text[])`, [unique.slice(i, i + pageSize)]);
    for (const r of rows) out.set(r.id, normaliseRow(r));
  }
  return out;
}

/** The stored score features of these observations (a report explains its hosts' top ports with them). */
export async function scoreFeaturesById(store: StoreSession, ids: readonly string[], pageSize = 5000): Promise<Map<string, Record<string, unknown> | null>> {
  const out = new Map<string, Record<string, unknown> | null>();
  for (let i = 0; i < ids.length; i += pageSize) {
    const rows = await store.query<{ id: string; score_features: Record<string, unknown> | null }>(
      'select id, score_features from port_observations where id = any($1::text[])',
      [ids.slice(i, i + pageSize)],
    );
    for (const r of rows) out.set(r.id, r.score_features);
  }
  return out;
}

/**
 * The query as SQL (the SQL compiler, the tested twin of matchFields) so only
 * matching rows leave the database; '' = everything.
 */
export function queryWhere(query: string | undefined, now: Date): SQL {
  const text = query?.trim() ?? '';
  return text ? compileWhere(parseQuery(text), { now, alias: 'po' }) : sql`true`;
}

/** Observations overlapping [from, to). */
export const overlapWhere = (from: string, to: string): SQL => sql`po.first_seen < ${to}::text::timestamptz and po_s.last_seen >= ${from}::text::timestamptz`;

/**
 * Observations where `where` (queryWhere) holds: those overlapping the period when one is given, else the
 * current open ports; in id order (scanObservations).
 */
export function scanMatching(
  store: StoreSession,
  where: SQL,
  opts: { overlapping?: { from: string; to: string }; batchSize?: number; columns?: string } = {},
): AsyncGenerator<ObservationRow> {
  const scope = opts.overlapping ? overlapWhere(opts.overlapping.from, opts.overlapping.to) : sql`po.current and po.state = 'open'`;
  return scanObservations(store, sql`${scope} and ${where}`, opts.batchSize, opts.columns);
}

const FIELD_NAMES = Object.keys(emptySearchFields()) as Array<keyof SearchFields>;

export type RawObservationRow = Omit<ObservationRow, 'first_seen' | 'last_seen'> & { first_ms: number; last_ms: number };

/** Rows as read by OBS_COLUMNS → ObservationRow (every search field present, times as Dates). */
export function normaliseRow(raw: RawObservationRow, fill = true): ObservationRow {
  const fields = (raw.fields ?? {}) as SearchFields;
  if (fill) for (const k of FIELD_NAMES) if (fields[k] === undefined) fields[k] = [];
  return {
    id: raw.id,
    ip: raw.ip,
    protocol: raw.protocol,
    port: Number(raw.port),
    state: raw.state,
    current: raw.current,
    hsh256: raw.hsh256,
    first_seen: new Date(Number(raw.first_ms)),
    last_seen: new Date(Number(raw.last_ms)),
    times_seen: Number(raw.times_seen),
    fields,
    tags: raw.tags ?? [],
    score: Number(raw.score ?? 0),
    score_features: raw.score_features,
    hostnames: raw.hostnames ?? [],
    last_run_id: raw.last_run_id,
    last_job_id: raw.last_job_id,
  };
}

/** The search fields the report's hosts section shows: only these leave the database (real documents carry many more, e.g. every header). */
const REPORT_FIELDS = [
  'service_name',
  'service_product',
  'service_version',
  'http_title',
  'http_server',
  'fqdn_requested',
  'ptr',
  'x509_subject_cn',
  'x509_san',
];

/** Columns for the report scan: projected fields, no raw score features (read when explaining a port score). */
export const REPORT_COLUMNS = `po.id, host(po.ip) as ip, po.protocol, po.port, po.state, po.current, '' as hsh256,
  (extract(epoch from po.first_seen) * 1000)::float8 as first_ms, (extract(epoch from po_s.last_seen) * 1000)::float8 as last_ms, 0 as times_seen,
  jsonb_build_object(${REPORT_FIELDS.map((f) => `'${f}', coalesce(po.fields->'${f}', '[]'::jsonb)`).join(', ')}) as fields,
  po.tags, po.score, null::jsonb as score_features, '{}'::text[] as hostnames, po_s.last_run_id, po_s.last_job_id`;

/** Parses the query once; '' matches everything. Syntax errors surface as PlumError 'syntax' (exit 2). */
export function compileQueryFilter(query: string | undefined, now: Date): (r: ObservationRow) => boolean {
  const text = query?.trim() ?? '';
  if (!text) return () => true;
  const node: QueryNode = parseQuery(text);
  return (r) => matchFields(node, { fields: r.fields, tags: r.tags, score: r.score, firstSeen: r.first_seen, lastSeen: r.last_seen }, now);
}
