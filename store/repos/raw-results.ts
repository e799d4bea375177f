import { gunzipSync } from 'node:zlib';
import type { StoreSession } from '../index.ts';

/** The nmap XML stored for a job (uncompressed), to re-ingest it with a newer parser or to export it. */
export async function getRawXml(store: StoreSession, jobId: string): Promise<{ xml: Buffer; sha256: string; parserVersion: number; error: string | null } | undefined> {
  const [row] = await store.query<{ xml_gz: Buffer; sha256: string; parser_version: number; error: string | null }>(
    'select xml_gz, sha256, parser_version, error from raw_results where job_id = $1', [jobId]);
  if (!row) return undefined;
  return { xml: gunzipSync(row.xml_gz), sha256: row.sha256, parserVersion: row.parser_version, error: row.error };
}

/**
 * Drops raw XML past its retention (PLUM_RAW_RETENTION_DAYS, set per row at
 * ingest; null = kept forever). Observations and events are not touched.
 */
export async function purgeExpiredRawResults(store: StoreSession, now = new Date()): Promise<number> {
  const rows = await store.query<{ id: string }>(
    'delete from raw_results where expires_at is not null and expires_at <= $1::timestamptz returning id', [now.toISOString()]);
  return rows.length;
}
