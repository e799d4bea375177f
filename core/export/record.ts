import type { SearchFields } from '../fields.ts';

/**
 * One exported port observation: the unit every export format (json, ndjson,
 * csv, misp) and the report model are built from. Times are ISO-8601 strings.
 */
export interface ExportRecord {
  id: string;
  ip: string;
  protocol: string;
  port: number;
  state: string;
  hsh256: string;
  firstSeen: string;
  lastSeen: string;
  timesSeen: number;
  fields: SearchFields;
  tags: string[];
  score: number;
  hostnames: string[];
}

/** Columns of the CSV export, in order; list fields are joined with `|`. */
export const CSV_COLUMNS = [
  'ip',
  'protocol',
  'port',
  'state',
  'first_seen',
  'last_seen',
  'times_seen',
  'score',
  'tags',
  'service_name',
  'service_product',
  'service_version',
  'fqdn',
  'ptr',
  'http_title',
  'http_server',
  'x509_subject_cn',
  'x509_san',
  'x509_sha256',
  'banner',
  'hsh256',
  'id',
] as const;

export type CsvColumn = (typeof CSV_COLUMNS)[number];

/** The flat view used by CSV: one cell per column, lists joined with `|`. */
export function flattenRecord(r: ExportRecord): Record<CsvColumn, string> {
  const j = (v: string[] | undefined) => (v ?? []).join('|');
  return {
    ip: r.ip,
    protocol: r.protocol,
    port: String(r.port),
    state: r.state,
    first_seen: r.firstSeen,
    last_seen: r.lastSeen,
    times_seen: String(r.timesSeen),
    score: String(r.score),
    tags: j(r.tags),
    service_name: j(r.fields.service_name),
    service_product: j(r.fields.service_product),
    service_version: j(r.fields.service_version),
    fqdn: j(r.fields.fqdn),
    ptr: j(r.fields.ptr),
    http_title: j(r.fields.http_title),
    http_server: j(r.fields.http_server),
    x509_subject_cn: j(r.fields.x509_subject_cn),
    x509_san: j(r.fields.x509_san),
    x509_sha256: j(r.fields.x509_sha256),
    banner: j(r.fields.banner),
    hsh256: r.hsh256,
    id: r.id,
  };
}
