import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { PlumError } from '../../core/errors.ts';
import type { StoreSession } from '../index.ts';

/** The nmap XML stored for a job (uncompressed), to re-ingest it with a newer parser or to export it. */
export async function getRawXml(
  store: StoreSession,
  jobId: string,
): Promise<{ xml: Buffer; sha256: string; parserVersion: number; error: string | null } | undefined> {
  const [row] = await store.query<{ xml_gz: Buffer; sha256: string; parser_version: number; error: string | null }>(
    'select xml_gz, sha256, parser_version, error from raw_results where job_id = $1',
    [jobId],
  );
  if (!row) return undefined;
  return { xml: gunzipSync(row.xml_gz), sha256: row.sha256, parserVersion: row.parser_version, error: row.error };
}

export type JobRawXml =
  | { found: 'xml'; xml: Buffer; sha256: string; parserVersion: number; error: string | null }
  | { found: 'no-job' }
  /** The job exists but its XML is not stored: past retention, or a file too large to keep. */
  | { found: 'not-kept' };

/**
 * A job's stored XML for `plum raw` and GET /v1/jobs/{id}/raw, checked against
 * the digest taken from the bytes nmap wrote (before compression): a mismatch
 * is a damaged database, never a result to hand out.
 */
export async function getJobRawXml(store: StoreSession, jobId: string): Promise<JobRawXml> {
  const raw = await getRawXml(store, jobId);
  if (!raw) {
    const [job] = await store.query<{ id: string }>('select id from jobs where id = $1', [jobId]);
    return { found: job ? 'not-kept' : 'no-job' };
  }
  const sha256 = createHash('sha256').update(raw.xml).digest('hex');
  if (sha256 !== raw.sha256) {
    throw new PlumError(
      'internal',
      `the XML stored for job ${jobId} does not match its SHA-256 (stored ${raw.sha256.slice(0, 12)}…, read ${sha256.slice(0, 12)}…)`,
      { hint: 'the database is damaged: restore it from a backup' },
    );
  }
  return { found: 'xml', ...raw };
}

/**
 * Drops raw XML past its retention (PLUM_RAW_RETENTION_DAYS, set per row at
 * ingest; null = kept forever). Observations and events are not touched.
 */
export async function purgeExpiredRawResults(store: StoreSession, now = new Date()): Promise<number> {
  const rows = await store.query<{ id: string }>('delete from raw_results where expires_at is not null and expires_at <= $1::timestamptz returning id', [
    now.toISOString(),
  ]);
  return rows.length;
}

/** A job's nmap XML as delivered, before it is ingested. */
export interface DeliveredResult {
  id: string;
  jobId: string;
  runId: string;
  sha256: string;
  size: number;
  xmlGz: Buffer;
  parserVersion: number;
  /** null: kept forever. */
  expiresAt: string | null;
}

/**
 * Stores a job's result: one per job, a second delivery (a retried attempt) replaces the first until the job
 * is ingested; nothing is stored for a job already ingested.
 */
export async function storeDeliveredResult(store: StoreSession, r: DeliveredResult): Promise<void> {
  await store.query(
    `insert into raw_results (id, job_id, run_id, sha256, size, xml_gz, parser_version, expires_at)
     select $1, $2, $3, $4, $5, $6, $7, $8
     where not exists (select 1 from jobs where id = $2 and ingested_at is not null)
     on conflict (job_id) do update set sha256 = excluded.sha256, size = excluded.size, xml_gz = excluded.xml_gz, expires_at = excluded.expires_at`,
    [r.id, r.jobId, r.runId, r.sha256, r.size, r.xmlGz, r.parserVersion, r.expiresAt],
  );
}

/** A job's stored XML, still compressed; undefined when none is kept. */
export async function rawXmlGz(store: StoreSession, jobId: string): Promise<Uint8Array | undefined> {
  const [raw] = await store.query<{ xml_gz: Uint8Array }>('select xml_gz from raw_results where job_id = $1', [jobId]);
  return raw?.xml_gz;
}
