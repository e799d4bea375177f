import { gzipSync } from 'node:zlib';
import { PlumError } from '../core/errors.ts';
import { viewOfJob } from '../core/history/view.ts';
import { newId } from '../core/ids.ts';
import type { Store } from './index.ts';
import type { IngestInput } from './ingest-types.ts';

/** Before the batches: the run and job a result belongs to, and its raw XML. */

/** Finds or creates the run and job the result belongs to; imports are deduplicated by XML digest. */
export interface ResolvedJob {
  runId: string;
  jobId: string;
  sameResult: boolean;
  /** A scan job's view, from its scripts and nmap options (an import's comes from the result). */
  jobView?: string;
}

export async function resolveJob(store: Store, input: IngestInput, sha: string | undefined, now: Date): Promise<ResolvedJob> {
  return store.transaction(async (tx) => {
    if (input.jobId) {
      const [job] = await tx.query<{
        id: string;
        run_id: string;
        ingested_at: Date | null;
        result_sha256: string | null;
        scripts: string[];
        nmap_args: string[];
        kind: string;
      }>(
        `select j.id, j.run_id, j.ingested_at, j.result_sha256, j.scripts, j.nmap_args, u.kind
         from jobs j join runs u on u.id = j.run_id where j.id = $1 for update of j`,
        [input.jobId],
      );
      if (job) {
        if (input.runId && job.run_id !== input.runId) {
          throw new PlumError('conflict', `job ${input.jobId} belongs to run ${job.run_id}, not ${input.runId}`);
        }
        return {
          runId: job.run_id,
          jobId: job.id,
          sameResult: Boolean(job.ingested_at && sha && job.result_sha256 === sha),
          ...(job.kind !== 'import' ? { jobView: viewOfJob(job.scripts ?? [], job.nmap_args ?? []) } : {}),
        };
      }
    }
    if (!input.jobId && sha) {
      // A file imported before: same digest → same import job (idempotent import).
      // The job's digest survives raw XML retention; the raw row covers an import interrupted before its end.
      const [prev] = await tx.query<{ job_id: string; run_id: string; ingested_at: Date | null }>(
        `select j.id as job_id, j.run_id, j.ingested_at from jobs j join runs u on u.id = j.run_id
         where u.kind = 'import' and (j.result_sha256 = $1 or j.id in (select job_id from raw_results where sha256 = $1))
         order by j.created_at limit 1`,
        [sha],
      );
      if (prev) return { runId: prev.run_id, jobId: prev.job_id, sameResult: Boolean(prev.ingested_at) };
    }
    let runId = input.runId;
    if (runId) {
      const [run] = await tx.query('select id from runs where id = $1', [runId]);
      if (!run) throw new PlumError('not_found', `run ${runId} does not exist`, { hint: 'create the run before ingesting its jobs' });
    } else {
      runId = newId('run');
      let profileName: string | null = null;
      if (input.profileId) {
        const [p] = await tx.query<{ name: string }>('select name from scan_profiles where id = $1', [input.profileId]);
        profileName = p?.name ?? null;
      }
      await tx.query(
        `insert into runs (id, kind, profile_id, profile_name, requested_by, targets, reason, started_at, status, progress)
         values ($1, 'import', $2, $3, 'ingest', $4::text[], $5, $6, 'running', $7::jsonb)`,
        [
          runId,
          input.profileId ?? null,
          profileName,
          input.scope?.targets ?? [],
          `import of ${input.source}`,
          now.toISOString(),
          JSON.stringify(input.owner ? { owner: input.owner } : {}),
        ],
      );
    }
    const jobId = input.jobId ?? newId('job');
    const [{ n }] = (await tx.query<{ n: number }>('select count(*) as n from jobs where run_id = $1', [runId])) as [{ n: number }];
    await tx.query(
      `insert into jobs (id, run_id, index, targets, tcp_ports, udp_ports, status, started_at)
       values ($1, $2, $3, $4::text[], $5, $6, 'running', $7)`,
      [jobId, runId, n, input.scope?.targets ?? [], input.scope?.tcpPorts ?? '', input.scope?.udpPorts ?? null, now.toISOString()],
    );
    return { runId, jobId, sameResult: false };
  });
}

/** Keeps the raw XML (gzip'd, until its retention ends) for re-ingestion and `plum raw`. */
export async function storeRaw(store: Store, input: IngestInput, runId: string, jobId: string, sha: string, now: Date, error: string | null): Promise<void> {
  const xml = input.rawXml!;
  const days = input.retentionDays ?? 90;
  const expires = days > 0 ? new Date(now.getTime() + days * 86_400_000).toISOString() : null;
  await store.query(
    `insert into raw_results (id, job_id, run_id, sha256, size, xml_gz, parser_version, error, expires_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     on conflict (job_id) do update set sha256 = excluded.sha256, size = excluded.size, xml_gz = excluded.xml_gz,
       parser_version = excluded.parser_version, error = excluded.error, expires_at = excluded.expires_at`,
    [newId('raw'), jobId, runId, sha, xml.length, gzipSync(xml), input.parserVersion ?? 1, error, expires],
  );
}
