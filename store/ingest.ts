import { createHash } from 'node:crypto';
import { noChanges } from '../core/counts.ts';
import { coverageFrom, type PortCoverage } from '../core/coverage.ts';
import { PlumError, toPlumError } from '../core/errors.ts';
import { hostAnswered } from '../core/history/answered.ts';
import { viewFromNmapCommand } from '../core/history/view.ts';
import type { Store, StoreSession } from './index.ts';
import { addWrites, MAINTENANCE_MIN_ROWS, noteObservationWrites, type TableWrites } from './maintenance.ts';
import { importRunCounters } from './import-counters.ts';
import { LastListingWins, portsOmittedMessage } from './ingest-hosts.ts';
import { resolveJob, storeRaw } from './ingest-job.ts';
import { OPEN, readBatch, type BatchCtx } from './ingest-read.ts';
import { decideBatch } from './ingest-decide.ts';
import { writeBatch } from './ingest-write.ts';
import { diffChangedEvents } from './ingest-diffs.ts';
import { loadTriggers, recordFirings } from './triggers.ts';
import type { IngestPort, IngestHost, IngestInput, IngestSummary, StoredEvent, StoredObservation } from './ingest-types.ts';

export * from './ingest-types.ts';
export { formatIngestSummary } from './ingest-summary.ts';

export interface IngestDeps<P extends IngestPort = IngestPort> {
  /** Tag rules (F's `tagPort`), applied to each open port. */
  tagPort?: (p: P) => { tags: string[]; rules: string[] };
  /**
   * Whether the stored tags follow `tagPort`'s rules (store/repos/tagged-state.ts), asked once per batch: then a
   * stable sighting keeps its stored tags and only the other ports are tagged. Only without `scorePort`.
   */
  storedTagsFollow?: (tx: StoreSession) => Promise<boolean>;
  /** Exposure score (F's `scorePort`), given the port and its tags. */
  scorePort?: (p: P, tags: string[]) => { score: number; features: Record<string, unknown> };
  /** Called in each batch's transaction, before it commits (work owed for the batch, recorded with it). */
  beforeCommit?: (tx: StoreSession, c: { observations: StoredObservation[]; events: StoredEvent[] }) => Promise<void>;
  /** Called after each committed batch (search indexing, notifications). */
  afterCommit?: (c: { observations: StoredObservation[]; events: StoredEvent[] }) => Promise<void>;
  /** Hosts per transaction; default DEFAULT_BATCH_HOSTS. */
  batchHosts?: number;
  /** Called after each batch with running totals. */
  onProgress?: (s: IngestSummary) => void;
}

/*
 * Ingest: one job's parsed nmap result → port observations with history.
 *
 * A "slot" is (ip, protocol, port). Each distinct fingerprint (hsh256) seen at a
 * slot in a view (the scan's scripts and service detection: core/history/view.ts)
 * is one row of port_observations; exactly one row per slot is `current` and
 * carries the slot's state (open, or closed after a `gone`), and one row per slot
 * and view is its `view_head`, what that view's next fingerprint is compared with
 * (core/history/decide.ts). Decisions
 * use scan times (nmap's host times), never the ingest clock, and a scan older
 * than what a slot already knows only widens first/last seen.
 *
 * Safety: hosts are ingested in batches, each batch in one transaction that
 * first takes transaction-scoped advisory locks on its hosts (in a fixed order,
 * so concurrent ingests wait for each other instead of deadlocking), then reads,
 * decides and writes. Re-ingesting the same job is a no-op: rows already
 * touched by the job are recognised by last_job_id.
 *
 * The modules: ingest-types.ts (inputs, hooks, summary), ingest-job.ts (the run, the job, the raw XML),
 * ingest-read.ts (a batch's locks, plans, stable fast path and read), ingest-decide.ts (its decisions),
 * ingest-write.ts (its writes), ingest-summary.ts (the one-line summary). This file runs the batches.
 */

/**
 * Hosts per transaction: large enough that a batch's fixed costs (round trips, commit) stay small, small enough
 * that its advisory locks are held briefly (bench/ingest.ts compared sizes: bench/HISTORY.md).
 */
const DEFAULT_BATCH_HOSTS = 500;

async function* iterate<H>(hosts: H[] | Iterable<H> | AsyncIterable<H>): AsyncGenerator<H> {
  if (Symbol.asyncIterator in (hosts as object)) yield* hosts as AsyncIterable<H>;
  else yield* hosts as Iterable<H>;
}

const RETRYABLE_PG = new Set(['40P01', '40001']);
async function withRetry<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      const code = (e as { code?: string }).code ?? (e as { cause?: { code?: string } }).cause?.code;
      if (attempt >= 5 || !code || !RETRYABLE_PG.has(code)) throw e;
      await new Promise((r) => setTimeout(r, 20 * attempt));
    }
  }
}

/** What one committed batch stored. */
interface BatchResult {
  observations: StoredObservation[];
  events: StoredEvent[];
  /** Ids of the observation rows the batch inserted (new fingerprints, in their view). */
  inserted: string[];
  writes: Required<TableWrites>;
}

/** Ingests one batch of hosts in one transaction: read, decide, write. */
async function ingestBatch(tx: StoreSession, hosts: IngestHost[], ctx: BatchCtx, summary: IngestSummary): Promise<BatchResult> {
  const read = await readBatch(tx, hosts, ctx);
  const decision = decideBatch(read, ctx, summary);
  await diffChangedEvents(tx, decision);
  const writes = await writeBatch(tx, decision, ctx, read.fastCount);
  return { observations: decision.observations, events: decision.events, inserted: decision.inserts.map((r) => r.id), writes };
}

/**
 * Stores one job's parsed result: observations, events and the raw XML. See the
 * header comment for the rules. Returns what happened; throws only when nothing
 * could be stored (the result's own parse error is reported in `errors`).
 */
export async function ingestScanResult<H extends IngestHost>(
  store: Store,
  input: IngestInput<H>,
  deps: IngestDeps<H['ports'][number]> = {},
): Promise<IngestSummary> {
  const now = new Date();
  const sha = input.rawXml ? createHash('sha256').update(input.rawXml).digest('hex') : input.resultSha256;
  const { runId, jobId, sameResult, jobView } = await resolveJob(store, input as IngestInput, sha, now);
  const summary: IngestSummary = {
    runId,
    jobId,
    ...noChanges(),
    stable: 0,
    historic: 0,
    alreadyIngested: 0,
    errors: [],
    warnings: [],
  };
  const parseError = (e: unknown) => {
    const err = toPlumError(e);
    summary.errors.push(err.oneLine());
  };
  const seenError = input.scan.error;
  if (input.scan.error) parseError(input.scan.error);
  if (sameResult) {
    // This exact result was already stored for this job: nothing to do (ingest is idempotent).
    for await (const host of iterate(input.scan.hosts)) {
      summary.hosts++;
      if (hostAnswered(host)) summary.hostsUp++;
      const open = host.ports.filter((p) => p.state === OPEN).length;
      summary.ports += open;
      summary.alreadyIngested += open;
    }
    return summary;
  }
  if (input.rawXml && sha && !sameResult) {
    await storeRaw(store, input as IngestInput, runId, jobId, sha, now, input.scan.error?.message ?? null);
  }
  // Trigger profiles' firings are recorded with the batch that made their findings new (store/triggers.ts).
  const triggers = await loadTriggers(store, runId);
  let coverage: PortCoverage | undefined;
  let view: string | undefined;
  const scanRef = input.scan;
  const ctx: BatchCtx = {
    runId,
    jobId,
    now,
    deps: deps as IngestDeps,
    get run() {
      return scanRef.run;
    },
    get coverage() {
      coverage ??= coverageFrom(
        input.scope
          ? [
              { protocol: 'tcp', spec: input.scope.tcpPorts },
              { protocol: 'udp', spec: input.scope.udpPorts },
            ]
          : (scanRef.run.scanInfo ?? []).map((s) => ({ protocol: s.protocol, spec: s.services })),
      );
      return coverage;
    },
    get view() {
      view ??= input.view ?? jobView ?? viewFromNmapCommand(scanRef.run.args);
      return view;
    },
  };
  const batchSize = deps.batchHosts ?? DEFAULT_BATCH_HOSTS;
  let unnoted: TableWrites = {};
  const noteWrites = async () => {
    const writes = unnoted;
    unnoted = {};
    await noteObservationWrites(store, writes);
  };
  /*
   * The maintenance runs beside the ingest, not between its batches: on a server it has its own pooled
   * connection, and VACUUM/ANALYZE take no lock that the batches' writes wait for (a stable 200,000-observation
   * pass spent 1.7 of 17 s waiting for them). One at a time; writes made meanwhile are reported by the next.
   * PGlite has one connection, so there it simply takes its turn between two batches.
   * A failure is reported when the ingest ends, as before (the batches themselves are committed).
   */
  let maintenance: Promise<void> | undefined;
  let maintenanceError: unknown;
  const maintainBeside = () => {
    if (maintenance) return;
    maintenance = noteWrites()
      .catch((e) => {
        maintenanceError ??= e;
      })
      .finally(() => {
        maintenance = undefined;
      });
  };
  let batch: IngestHost[] = [];
  const listings = new LastListingWins();
  const flush = async () => {
    if (batch.length === 0) return;
    const hosts = batch;
    batch = [];
    listings.newBatch();
    const before = { ...summary };
    let committed: BatchResult;
    try {
      committed = await withRetry(() => {
        // A retried batch starts again from the counters it started with.
        Object.assign(summary, before, { errors: summary.errors });
        return store.transaction(async (tx) => {
          const batchResult = await ingestBatch(tx, hosts, ctx, summary);
          await recordFirings(tx, triggers, batchResult, now);
          if (deps.beforeCommit && (batchResult.observations.length || batchResult.events.length)) await deps.beforeCommit(tx, batchResult);
          return batchResult;
        });
      });
    } catch (e) {
      Object.assign(summary, before, { errors: summary.errors });
      // drizzle's message repeats the whole query and its parameters: keep the server's own message.
      const cause = (e as { cause?: unknown }).cause;
      const msg = cause instanceof Error ? cause.message : (e as Error).message;
      throw e instanceof PlumError
        ? e
        : new PlumError('database', `ingest failed: ${msg}`, {
            cause: e,
            hint: 'nothing of the failed batch was stored; fix the cause and ingest the same result again',
          });
    }
    if (deps.afterCommit && (committed.observations.length || committed.events.length)) await deps.afterCommit(committed);
    // Statistics and vacuum where nothing else keeps them (PGlite, a server without autovacuum): reported every
    // MAINTENANCE_MIN_ROWS rows, so a large first import is analysed while it runs and its later batches get index
    // plans; the rest is reported once the ingest ends.
    if (addWrites(unnoted, committed.writes) >= MAINTENANCE_MIN_ROWS) maintainBeside();
    deps.onProgress?.(summary);
  };
  // One batch in the database while the next is parsed: the parser (this process) and the database
  // (its own process) work at the same time. Batches still commit one after the other, in order.
  let inFlight: Promise<void> | undefined;
  const dispatch = async () => {
    if (inFlight) await inFlight;
    inFlight = flush();
    inFlight.catch(() => {}); // surfaced by the next dispatch or the final await
  };
  try {
    let yieldedAt = performance.now();
    for await (const host of iterate(input.scan.hosts)) {
      if (host.portsOmitted) summary.errors.push(portsOmittedMessage(host));
      listings.add(batch, host);
      if (batch.length >= batchSize) {
        await dispatch();
      } else if (inFlight && performance.now() - yieldedAt > 1) {
        // The parser's await on each host is a microtask: without a turn of the event loop, the batch in flight
        // would not see its query results until this loop blocks, and the two would take turns instead of
        // overlapping (bench/ingest.ts's stable pass spent most of its time waiting without this turn).
        await new Promise<void>((resolve) => setImmediate(resolve));
        yieldedAt = performance.now();
      }
    }
  } catch (e) {
    // A streamed parse that fails part-way: keep the valid hosts, record the error.
    // Input that is not nmap XML at all (nothing read) is an error of the caller, not a partial result.
    const partial = summary.hosts > 0 || batch.length > 0;
    if (e instanceof PlumError && partial && (e.code === 'truncated' || e.code === 'parse_error')) parseError(e);
    else {
      // The caller may close the store next: let the maintenance finish first.
      await maintenance;
      throw e;
    }
  }
  summary.warnings.push(...listings.warnings());
  try {
    await dispatch();
    await inFlight;
  } finally {
    await maintenance;
  }
  if (maintenanceError !== undefined) throw maintenanceError;
  await noteWrites();
  // A streamed parse reports truncation once it has ended.
  if (input.scan.error && !seenError) {
    parseError(input.scan.error);
    if (input.rawXml) await store.query('update raw_results set error = $2 where job_id = $1', [jobId, input.scan.error.message]);
  }

  const error = summary.errors.length ? summary.errors.join('; ') : null;
  // Warnings (what was stored differently from how the result lists it) stay with the job: `plum runs RUN_ID`
  // and the API show them after the importing process has printed them.
  await store.query(
    `update jobs set ingested_at = $2, result_sha256 = coalesce($3, result_sha256), error = $4,
       status = case when $4::text is not null then 'partial' when status in ('queued', 'running') then 'succeeded' else status end,
       finished_at = coalesce(finished_at, $2),
       progress = case when $5::jsonb is null then progress - 'warnings' else progress || jsonb_build_object('warnings', $5::jsonb) end
     where id = $1`,
    [jobId, now.toISOString(), sha ?? null, error, summary.warnings.length ? JSON.stringify(summary.warnings) : null],
  );
  await store.query(
    `update runs set status = case when $2::text is not null then 'partial' else 'succeeded' end, finished_at = $3,
       counters = $4::jsonb
     where id = $1 and kind = 'import'`,
    [runId, error, now.toISOString(), JSON.stringify(await importRunCounters(store, runId, summary))],
  );
  return summary;
}
