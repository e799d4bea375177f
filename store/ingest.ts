import { createHash } from 'node:crypto';
import type { ChangeCounts } from '../core/counts.ts';
import { gzipSync } from 'node:zlib';
import { PlumError, toPlumError } from '../core/errors.ts';
import type { SearchFields } from '../core/fields.ts';
import { decideSighting } from '../core/history/decide.ts';
import { newId } from '../core/ids.ts';
import type { Store, StoreSession } from './index.ts';
import { addWrites, MAINTENANCE_MIN_ROWS, noteObservationWrites, type TableWrites } from './maintenance.ts';
import { importRunCounters } from './import-counters.ts';
import { LastListingWins, portsOmittedMessage } from './ingest-hosts.ts';
import type { EventType } from './schema/observation-events.ts';
import type { RunOwner } from './repos/run-owners.ts';
import { canonicalIp, coverageFrom, type PortCoverage } from '../core/coverage.ts';

/*
 * Ingest: one job's parsed nmap result → port observations with history.
 *
 * A "slot" is (ip, protocol, port). Each distinct fingerprint (hsh256) seen at a
 * slot is one row of port_observations; exactly one row per slot is `current`
 * and carries the slot's state (open, or closed after a `gone`). Decisions
 * use scan times (nmap's host times), never the ingest clock, and a scan older
 * than what a slot already knows only widens first/last seen.
 *
 * Safety: hosts are ingested in batches, each batch in one transaction that
 * first takes transaction-scoped advisory locks on its hosts (in a fixed order,
 * so concurrent ingests wait for each other instead of deadlocking), then reads,
 * decides and writes. Re-ingesting the same job is a no-op: rows already
 * touched by the job are recognised by last_job_id.
 */

/** Structural subsets of the parser's types (core/nmap/types.ts): what ingest reads. */
export interface IngestPort {
  protocol: string;
  port: number;
  state: string;
  hsh256: string;
  fpVersion: number;
  fields: SearchFields;
  doc: object;
}
export interface IngestHost {
  ip: string;
  status: 'up' | 'down' | 'unknown' | string;
  startedAt?: string;
  endedAt?: string;
  timedOut: boolean;
  /** Ports the parser dropped past its per-host limit: reported in the summary's errors. */
  portsOmitted?: number;
  hostnames: { name: string; type: string }[];
  ports: IngestPort[];
}
export interface IngestRunInfo {
  startedAt?: string;
  endedAt?: string;
  finished?: boolean;
  scanInfo?: { type?: string; protocol: string; services: string }[];
}
export interface IngestScan<H extends IngestHost = IngestHost> {
  run: IngestRunInfo;
  /** All hosts, or a stream of hosts (bounded memory for big files). */
  hosts: H[] | Iterable<H> | AsyncIterable<H>;
  /** Set by the parser when the XML was truncated or invalid after the valid hosts. */
  error?: Error;
}

/** Adapts a streamed parse (core/nmap/parse.ts parseNmapStream) whose run info and error fill in while it is read. */
export function scanFromStream<H extends IngestHost>(stream: AsyncIterable<H> & { readonly run: IngestRunInfo; readonly error?: Error }): IngestScan<H> {
  return {
    get run() {
      return stream.run;
    },
    hosts: stream,
    get error() {
      return stream.error;
    },
  };
}

export interface JobScope {
  /** ips, cidrs, ranges, names given to nmap. */
  targets: string[];
  tcpPorts: string;
  udpPorts?: string;
}

export interface IngestInput<H extends IngestHost = IngestHost> {
  scan: IngestScan<H>;
  /** The job's scope; without it, the ports nmap reports in <scaninfo> count as covered. */
  scope?: JobScope;
  runId?: string;
  jobId?: string;
  profileId?: string;
  rawXml?: Buffer;
  /**
   * SHA-256 (hex) of a result too large to keep (no `rawXml`): a repeated import of it is still
   * recognised and changes nothing. With `rawXml`, its own digest is used.
   */
  resultSha256?: string;
  /** Where the result came from (file path, agent name…), kept on import runs. */
  source: string;
  /** Raw XML retention in days (0 = forever); default 90. */
  retentionDays?: number;
  /** Parser version that produced `scan`, kept with the raw XML. */
  parserVersion?: number;
  /** The process importing: recorded on a new import run, so a run left behind by a crash is recovered. */
  owner?: RunOwner;
}

export interface StoredObservation {
  id: string;
  ip: string;
  protocol: string;
  port: number;
  hsh256: string;
  state: 'open' | 'closed';
  firstSeen: string;
  lastSeen: string;
  fields: SearchFields;
  tags: string[];
  score: number;
}
export interface StoredEvent {
  id: string;
  type: EventType;
  ip: string;
  protocol: string;
  port: number;
  at: string;
  hsh256: string;
  previousHsh256: string | null;
  observationId: string;
  previousObservationId: string | null;
}

export interface IngestDeps<P extends IngestPort = IngestPort> {
  /** Tag rules (F's `tagPort`), applied to each open port. */
  tagPort?: (p: P) => { tags: string[]; rules: string[] };
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

export interface IngestSummary extends ChangeCounts {
  runId: string;
  jobId: string;
  stable: number;
  /** Sightings older than what the store already knew: they only widen first/last seen. */
  historic: number;
  /** Already ingested by this job: nothing changed. */
  alreadyIngested: number;
  errors: string[];
  /** What was stored differently from how the result lists it (a host listed twice). */
  warnings: string[];
}

/**
 * A StoredObservation that reads its fields from the parsed port only when a
 * consumer does (a getter): a parse with fields on demand (core/nmap/types.ts
 * `fieldsOnDemand`) extracts them then, so a stable sighting nobody indexes
 * never pays for them.
 */
class PortObservation implements StoredObservation {
  readonly protocol: string;
  readonly port: number;
  readonly hsh256: string;
  readonly #parsed: IngestPort;
  constructor(
    readonly id: string, readonly ip: string, parsed: IngestPort, readonly state: 'open' | 'closed',
    readonly firstSeen: string, readonly lastSeen: string, readonly tags: string[], readonly score: number,
  ) {
    this.protocol = parsed.protocol;
    this.port = parsed.port;
    this.hsh256 = parsed.hsh256;
    this.#parsed = parsed;
  }

  get fields(): SearchFields {
    return this.#parsed.fields;
  }
}

interface ExistingRow {
  id: string;
  ip: string;
  protocol: string;
  port: number;
  hsh256: string;
  state: 'open' | 'closed';
  current: boolean;
  first_seen: Date;
  last_seen: Date;
  checked_at: Date;
  last_job_id: string | null;
  times_seen: number;
  tags: string[];
  rules: string[];
  hostnames: string[];
  score: number;
}

const OPEN = 'open';
/** A port the stable fast path stored: its row and its first/last seen after the sighting. */
interface FastRow { id: string; firstSeen: string; lastSeen: string }
/**
 * Hosts per transaction. bench/ingest.ts at 1M observations on PostgreSQL: 500 hosts (≈ 2,000 ports) gave
 * 2,202/s new and 15,016/s stable, 250 gave 1,903/s and 12,735/s (fixed costs per batch: round trips,
 * commit). A batch's advisory locks are held for one transaction (well under a second).
 */
const DEFAULT_BATCH_HOSTS = 500;
const slotKey = (ip: string, protocol: string, port: number) => `${ip}/${protocol}/${port}`;
const sameList = (a: readonly string[] | null | undefined, b: readonly string[]) =>
  (a ?? []).length === b.length && b.every((v, i) => a![i] === v);

function hostTime(host: IngestHost, run: IngestRunInfo, fallback: Date): Date {
  for (const v of [host.endedAt, host.startedAt, run.endedAt, run.startedAt]) {
    if (v) {
      const d = new Date(v);
      if (!Number.isNaN(d.getTime())) return d;
    }
  }
  return fallback;
}

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
      const code = (e as { code?: string }).code ?? ((e as { cause?: { code?: string } }).cause?.code);
      if (attempt >= 5 || !code || !RETRYABLE_PG.has(code)) throw e;
      await new Promise((r) => setTimeout(r, 20 * attempt));
    }
  }
}

/** Finds or creates the run and job the result belongs to; imports are deduplicated by XML digest. */
async function resolveJob(store: Store, input: IngestInput, sha: string | undefined, now: Date): Promise<{ runId: string; jobId: string; sameResult: boolean }> {
  return store.transaction(async (tx) => {
    if (input.jobId) {
      const [job] = await tx.query<{ id: string; run_id: string; ingested_at: Date | null; result_sha256: string | null }>(
        'select id, run_id, ingested_at, result_sha256 from jobs where id = $1 for update', [input.jobId]);
      if (job) {
        if (input.runId && job.run_id !== input.runId) {
          throw new PlumError('conflict', `job ${input.jobId} belongs to run ${job.run_id}, not ${input.runId}`);
        }
        return { runId: job.run_id, jobId: job.id, sameResult: Boolean(job.ingested_at && sha && job.result_sha256 === sha) };
      }
    }
    if (!input.jobId && sha) {
      // A file imported before: same digest → same import job (idempotent import).
      // The job's digest survives raw XML retention; the raw row covers an import interrupted before its end.
      const [prev] = await tx.query<{ job_id: string; run_id: string; ingested_at: Date | null }>(
        `select j.id as job_id, j.run_id, j.ingested_at from jobs j join runs u on u.id = j.run_id
         where u.kind = 'import' and (j.result_sha256 = $1 or j.id in (select job_id from raw_results where sha256 = $1))
         order by j.created_at limit 1`, [sha]);
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
        [runId, input.profileId ?? null, profileName, input.scope?.targets ?? [], `import of ${input.source}`, now.toISOString(),
          JSON.stringify(input.owner ? { owner: input.owner } : {})]);
    }
    const jobId = input.jobId ?? newId('job');
    const [{ n }] = await tx.query<{ n: number }>('select count(*) as n from jobs where run_id = $1', [runId]) as [{ n: number }];
    await tx.query(
      `insert into jobs (id, run_id, index, targets, tcp_ports, udp_ports, status, started_at)
       values ($1, $2, $3, $4::text[], $5, $6, 'running', $7)`,
      [jobId, runId, n, input.scope?.targets ?? [], input.scope?.tcpPorts ?? '', input.scope?.udpPorts ?? null, now.toISOString()]);
    return { runId, jobId, sameResult: false };
  });
}

async function storeRaw(store: Store, input: IngestInput, runId: string, jobId: string, sha: string, now: Date, error: string | null): Promise<void> {
  const xml = input.rawXml!;
  const days = input.retentionDays ?? 90;
  const expires = days > 0 ? new Date(now.getTime() + days * 86_400_000).toISOString() : null;
  await store.query(
    `insert into raw_results (id, job_id, run_id, sha256, size, xml_gz, parser_version, error, expires_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     on conflict (job_id) do update set sha256 = excluded.sha256, size = excluded.size, xml_gz = excluded.xml_gz,
       parser_version = excluded.parser_version, error = excluded.error, expires_at = excluded.expires_at`,
    [newId('raw'), jobId, runId, sha, xml.length, gzipSync(xml), input.parserVersion ?? 1, error, expires]);
}

interface BatchCtx {
  runId: string;
  jobId: string;
  /** Lazy: a streamed scan knows its <scaninfo> only once reading has started. */
  readonly coverage: PortCoverage;
  run: IngestRunInfo;
  now: Date;
  deps: IngestDeps;
}

interface InsertRow {
  id: string; ip: string; protocol: string; port: number; hsh256: string; fp_version: number;
  first_seen: string; last_seen: string; checked_at: string; state_changed_at: string; current: boolean;
  doc: object; fields: SearchFields; hostnames: string[]; tags: string[]; rules: string[]; score: number;
  score_features: Record<string, unknown> | null;
}
interface UpdateRow {
  id: string; first_seen: string; last_seen: string; times_seen: number; checked_at: string;
  state: 'open' | 'closed'; state_changed_at: string | null; current: boolean; seen: boolean;
  hostnames: string[] | null; tags: string[] | null; rules: string[] | null;
  score: number | null; score_features: Record<string, unknown> | null;
}

/** What one committed batch stored. */
interface BatchResult {
  observations: StoredObservation[];
  events: StoredEvent[];
  writes: Required<TableWrites>;
}

/** Ingests one batch of hosts in one transaction. */
/** Every statement of a batch has fixed text and runs once per batch: prepared on a server (store/index.ts). */
const PREPARED = { prepare: true } as const;

async function ingestBatch(tx: StoreSession, hosts: IngestHost[], ctx: BatchCtx, summary: IngestSummary): Promise<BatchResult> {
  const hostIps = hosts.map((h) => canonicalIp(h.ip));
  const ips = [...new Set(hostIps)].sort();
  // Serialise concurrent ingests per host: transaction-scoped locks taken in one fixed order. In the same round
  // trip, JIT off for this transaction: a batch's reads are estimated just above jit_above_cost, and compiling
  // them took 6-30 ms per batch on a server (PostgreSQL's default jit = on) to save nothing on 2,000 rows.
  await tx.query(
    `select set_config('jit', 'off', true), count(pg_advisory_xact_lock(k))
     from (select distinct hashtextextended(ip, 7245) as k from unnest($1::text[]) as ip order by 1) s`,
    [ips], PREPARED);
  const { runId, jobId, deps } = ctx;
  // Each host's time, names and open ports (last occurrence wins if nmap lists a port twice), and each open
  // port's tags and score: decided once, used by the stable fast path below and by the full decision after it.
  const plans = hosts.map((host, i) => {
    const ip = hostIps[i]!;
    const t = hostTime(host, ctx.run, ctx.now);
    const openPorts = new Map<string, IngestPort>();
    for (const p of host.ports) if (p.state === OPEN) openPorts.set(slotKey(ip, p.protocol, p.port), p);
    const ports = [...openPorts].map(([slot, p]) => {
      const tagged = deps.tagPort ? deps.tagPort(p) : { tags: [] as string[], rules: [] as string[] };
      const scored = deps.scorePort ? deps.scorePort(p, tagged.tags) : { score: 0, features: null };
      return { slot, p, tagged, scored, fast: undefined as FastRow | undefined };
    });
    return { host, ip, t, iso: t.toISOString(), hostnames: [...new Set(host.hostnames.map((h) => h.name).filter(Boolean))], ports };
  });
  /*
   * Stable fast path: a port seen again with the current fingerprint of its slot, open, by a newer scan and
   * another job, with the same names, tags and score, only moves its sightings row (last seen, times, checked,
   * last run/job). The database decides and writes those in the statement that reads the hosts' current rows,
   * and returns only the rows the full decision below still needs (everything else about these hosts).
   * Most of a stable pass thus never travels to this process and back (bench/ingest.ts stable pass: the rows,
   * their conversion and the per-port bookkeeping were about a fifth of the main thread). A slot listed twice in
   * the batch takes the full path (its occurrences must see each other).
   */
  const slotCount = new Map<string, number>();
  for (const plan of plans) for (const x of plan.ports) slotCount.set(x.slot, (slotCount.get(x.slot) ?? 0) + 1);
  const candidates: (typeof plans)[number]['ports'][number][] = [];
  const fastInput: unknown[] = [];
  for (const plan of plans) {
    for (const x of plan.ports) {
      if (slotCount.get(x.slot) !== 1) continue;
      fastInput.push({
        i: candidates.length, ip: plan.ip, protocol: x.p.protocol, port: x.p.port, hsh256: x.p.hsh256, t: plan.iso,
        hostnames: plan.hostnames, tags: x.tagged.tags, rules: x.tagged.rules, score: deps.scorePort ? x.scored.score : null,
      });
      candidates.push(x);
    }
  }
  // The rows a decision needs: every current row of these hosts (their slots' state, for changed/gone), and
  // the earlier rows of exactly the fingerprints seen now at their slots (for reappeared and older scans).
  // Two queries, each with its own index: one condition `ip = any(…) and (current or hsh256 = any(…))`
  // made btree probe every ip × hsh256 pair of the batch (≈ 1,000,000 descents for 500 hosts), ~1 s per batch.
  // (Both need statistics to be planned as index probes: see store/maintenance.ts.)
  // Each row's sighting columns come from observation_sightings by primary key, through a lateral subquery the
  // planner cannot flatten (joined plainly, it may hash-join the whole sightings table for a few thousand rows).
  const withSightings = (rows: string) => `select r.id, host(r.ip) as ip, r.protocol, r.port, r.hsh256, r.state, r.current,
       r.first_seen, r.tags, r.rules, r.hostnames, r.score, s.last_seen, s.checked_at, s.last_job_id, s.times_seen
     from ${rows} left join lateral (select last_seen, checked_at, last_job_id, times_seen from observation_sightings s
       where s.id = r.id offset 0) s on true`;
  const current = await tx.query<ExistingRow & { fast: number | null }>(
    `with c as materialized (${withSightings('(select * from port_observations where ip = any($2::inet[]) and current) r')}),
     x as (select * from jsonb_to_recordset($1::jsonb) as x(i int, ip inet, protocol text, port int, hsh256 text,
       t timestamptz, hostnames text[], tags text[], rules text[], score int)),
     m as (select c.id, x.i, x.t, c.first_seen from c join x
       on c.ip = host(x.ip) and c.protocol = x.protocol and c.port = x.port
       where c.hsh256 = x.hsh256 and c.state = 'open' and x.t >= c.checked_at and x.t >= c.first_seen
         and c.last_job_id is distinct from $3 and c.hostnames = x.hostnames and c.tags = x.tags and c.rules = x.rules
         and (x.score is null or c.score = x.score)),
     u as (update observation_sightings s set last_seen = greatest(s.last_seen, m.t), times_seen = s.times_seen + 1,
         checked_at = m.t, last_run_id = $4, last_job_id = $3
       from m where s.id = m.id returning m.i, s.id, m.first_seen, s.last_seen)
     select u.i as fast, u.id, null::text as ip, null::text as protocol, null::int as port, null::text as hsh256,
       null::text as state, null::boolean as current, u.first_seen, null::text[] as tags, null::text[] as rules,
       null::text[] as hostnames, null::int as score, u.last_seen, null::timestamptz as checked_at,
       null::text as last_job_id, null::int as times_seen
     from u
     union all
     select null, c.id, c.ip, c.protocol, c.port, c.hsh256, c.state, c.current, c.first_seen, c.tags, c.rules,
       c.hostnames, c.score, c.last_seen, c.checked_at, c.last_job_id, c.times_seen
     from c where not exists (select 1 from m where m.id = c.id)`,
    [JSON.stringify(fastInput), ips, jobId, runId], PREPARED);
  const existing: ExistingRow[] = [];
  let fastCount = 0;
  for (const r of current) {
    if (r.fast === null) existing.push(r);
    else {
      candidates[r.fast]!.fast = { id: r.id, firstSeen: r.first_seen.toISOString(), lastSeen: r.last_seen.toISOString() };
      fastCount++;
    }
  }
  const keys: [string, string, number, string][] = [];
  for (const plan of plans) for (const x of plan.ports) if (!x.fast) keys.push([plan.ip, x.p.protocol, x.p.port, x.p.hsh256]);
  // Earlier rows of a fingerprint are needed only where it is not the current one (changed, reappeared, older
  // scans): none in a stable pass, which then skips this query.
  const currentHash = new Map(existing.map((r) => [slotKey(r.ip, r.protocol, r.port), r.hsh256]));
  const other = keys.filter((k) => currentHash.get(slotKey(k[0], k[1], k[2])) !== k[3]);
  if (other.length > 0) {
    existing.push(...await tx.query<ExistingRow>(withSightings(
      `unnest($1::text[]::inet[], $2::text[], $3::int[], $4::text[]) as k(ip, protocol, port, hsh256)
       cross join lateral (select * from port_observations p
         where p.ip = k.ip and p.protocol = k.protocol and p.port = k.port and p.hsh256 = k.hsh256 and not p.current) r`),
    [other.map((k) => k[0]), other.map((k) => k[1]), other.map((k) => k[2]), other.map((k) => k[3])], PREPARED));
  }
  const orphan = existing.find((r) => r.last_seen === null);
  if (orphan) throw new PlumError('database', `observation ${orphan.id} has no sightings row`, { hint: 'the database is inconsistent; restore it from a backup' });
  const currentBySlot = new Map<string, ExistingRow>();
  const byFingerprint = new Map<string, ExistingRow>();
  const currentOpenByIp = new Map<string, ExistingRow[]>();
  for (const r of existing) {
    const slot = slotKey(r.ip, r.protocol, r.port);
    byFingerprint.set(`${slot}#${r.hsh256}`, r);
    if (r.current) {
      currentBySlot.set(slot, r);
      if (r.state === OPEN) {
        if (!currentOpenByIp.has(r.ip)) currentOpenByIp.set(r.ip, []);
        currentOpenByIp.get(r.ip)!.push(r);
      }
    }
  }

  const inserts: InsertRow[] = [];
  const updates = new Map<string, UpdateRow>();
  const demote = new Set<string>();
  const events: StoredEvent[] = [];
  const observations: StoredObservation[] = [];

  const original = new Map<string, { state: string; current: boolean; firstSeen: string; checkedAt: string }>();
  const updateOf = (r: ExistingRow): UpdateRow => {
    let u = updates.get(r.id);
    if (!u) {
      const firstSeen = r.first_seen.toISOString();
      const checkedAt = r.checked_at.toISOString();
      original.set(r.id, { state: r.state, current: r.current, firstSeen, checkedAt });
      u = {
        id: r.id, first_seen: firstSeen, last_seen: r.last_seen.toISOString(), times_seen: r.times_seen,
        checked_at: checkedAt, state: r.state, state_changed_at: null, current: r.current, seen: false,
        hostnames: null, tags: null, rules: null, score: null, score_features: null,
      };
      updates.set(r.id, u);
    }
    return u;
  };
  const event = (type: EventType, ip: string, protocol: string, port: number, at: Date, hsh256: string, observationId: string, prev?: ExistingRow) => {
    events.push({
      id: newId('evt'), type, ip, protocol, port, at: at.toISOString(), hsh256,
      previousHsh256: prev?.hsh256 ?? null, observationId, previousObservationId: prev?.id ?? null,
    });
    summary[type]++;
  };

  for (const { host, ip, t, iso, hostnames, ports } of plans) {
    const answered = host.status === 'up' && !host.timedOut;
    summary.hosts++;
    if (answered) summary.hostsUp++;
    const openSlots = new Set<string>();

    for (const { slot, p, tagged, scored, fast } of ports) {
      openSlots.add(slot);
      summary.ports++;
      if (fast) {
        // Stored by the fast path above.
        summary.stable++;
        observations.push(new PortObservation(fast.id, ip, p, 'open', fast.firstSeen, fast.lastSeen, tagged.tags, scored.score));
        continue;
      }
      const cur = currentBySlot.get(slot);
      const same = byFingerprint.get(`${slot}#${p.hsh256}`);
      if (same && same.last_job_id === jobId) {
        summary.alreadyIngested++;
        continue;
      }
      const historic = cur !== undefined && t < cur.checked_at;
      const touch = (r: ExistingRow): UpdateRow => {
        const u = updateOf(r);
        // Every time here is Date#toISOString text (one fixed format): text order is time order.
        if (iso < u.first_seen) u.first_seen = iso;
        if (iso > u.last_seen) u.last_seen = iso;
        u.times_seen += 1;
        u.seen = true;
        // Same fingerprint, same document: rewrite only what can differ (names, tags of newer rules, score), and
        // only when it did, so a stable sighting stays a small (HOT) update.
        if (!sameList(r.hostnames, hostnames)) u.hostnames = hostnames;
        if (!sameList(r.tags, tagged.tags) || !sameList(r.rules, tagged.rules)) {
          u.tags = tagged.tags; u.rules = tagged.rules;
        }
        if (deps.scorePort && r.score !== scored.score) {
          u.score = scored.score; u.score_features = scored.features;
        }
        return u;
      };
      const insert = (current: boolean): InsertRow => {
        const row: InsertRow = {
          id: newId('obs'), ip, protocol: p.protocol, port: p.port, hsh256: p.hsh256, fp_version: p.fpVersion,
          first_seen: iso, last_seen: iso, checked_at: iso, state_changed_at: iso, current, doc: p.doc, fields: p.fields,
          hostnames, tags: tagged.tags, rules: tagged.rules, score: scored.score, score_features: scored.features,
        };
        inserts.push(row);
        // Later ports of the same batch (a duplicate host entry) see this row.
        const shadow: ExistingRow = {
          id: row.id, ip, protocol: p.protocol, port: p.port, hsh256: p.hsh256, state: 'open', current,
          first_seen: t, last_seen: t, checked_at: t, last_job_id: jobId, times_seen: 1, tags: tagged.tags, rules: tagged.rules, hostnames, score: scored.score,
        };
        byFingerprint.set(`${slot}#${p.hsh256}`, shadow);
        if (current) currentBySlot.set(slot, shadow);
        return row;
      };
      const observed = (id: string, state: 'open' | 'closed', firstSeen: string, lastSeen: string) =>
        observations.push(new PortObservation(id, ip, p, state, firstSeen, lastSeen, tagged.tags, scored.score));

      const decision = decideSighting({
        historic, known: Boolean(same), hsh256: p.hsh256,
        ...(cur ? { current: { hsh256: cur.hsh256, open: cur.state === OPEN } } : {}),
      });
      switch (decision.action) {
        case 'historic': {
          // Older than what the slot knows: widen first/last seen, never change the current state.
          summary.historic++;
          if (same) {
            const u = touch(same);
            // Keep the newest document: only first_seen/times move for an old sighting.
            if (t < same.last_seen) u.hostnames = null;
            if (iso > u.checked_at) u.checked_at = iso;
          } else {
            insert(false);
          }
          break;
        }
        case 'restore': {
          // A known fingerprint at a slot with no current row (should not happen): make it current again.
          const known = same!;
          const u = touch(known);
          u.current = true; u.state = 'open'; u.state_changed_at = iso; u.checked_at = iso;
          known.current = true; known.state = 'open'; known.last_job_id = jobId;
          currentBySlot.set(slot, known);
          for (const type of decision.events) event(type, ip, p.protocol, p.port, t, p.hsh256, known.id);
          observed(known.id, 'open', u.first_seen, u.last_seen);
          break;
        }
        case 'insert': {
          const row = insert(true);
          for (const type of decision.events) event(type, ip, p.protocol, p.port, t, p.hsh256, row.id);
          observed(row.id, 'open', iso, iso);
          break;
        }
        case 'touch-current': {
          const now = cur!;
          const u = touch(now);
          u.checked_at = iso;
          if (now.state !== OPEN) {
            u.state = 'open';
            u.state_changed_at = iso;
            now.state = 'open';
          }
          if (decision.events.length === 0) summary.stable++;
          for (const type of decision.events) event(type, ip, p.protocol, p.port, t, p.hsh256, now.id);
          now.last_job_id = jobId;
          observed(now.id, 'open', u.first_seen, u.last_seen);
          break;
        }
        case 'switch-to-known':
        case 'switch-to-new': {
          // A different fingerprint than the current one.
          const previous = cur!;
          demote.add(previous.id);
          updateOf(previous).current = false;
          previous.current = false;
          if (decision.action === 'switch-to-known') {
            const known = same!;
            const u = touch(known);
            u.current = true; u.state = 'open'; u.state_changed_at = iso; u.checked_at = iso;
            known.current = true; known.state = 'open'; known.last_job_id = jobId;
            currentBySlot.set(slot, known);
            for (const type of decision.events) event(type, ip, p.protocol, p.port, t, p.hsh256, known.id, previous);
            observed(known.id, 'open', u.first_seen, u.last_seen);
          } else {
            const row = insert(true);
            for (const type of decision.events) event(type, ip, p.protocol, p.port, t, p.hsh256, row.id, previous);
            observed(row.id, 'open', iso, iso);
          }
          break;
        }
      }
    }

    // gone: open before, covered by this job, host answered, not open now, and not an older scan.
    if (!answered || ctx.coverage.empty) continue;
    for (const r of currentOpenByIp.get(ip) ?? []) {
      const slot = slotKey(ip, r.protocol, r.port);
      if (openSlots.has(slot) || !r.current || r.state !== OPEN) continue;
      if (!ctx.coverage.covers(r.protocol, r.port)) continue;
      if (t < r.checked_at) continue;
      const u = updateOf(r);
      u.state = 'closed';
      u.state_changed_at = iso;
      u.checked_at = iso;
      r.state = 'closed';
      event('gone', ip, r.protocol, r.port, t, r.hsh256, r.id);
    }
  }

  if (demote.size > 0) {
    // First drop `current` so the one-current-row-per-slot index accepts the new current rows.
    await tx.query('update port_observations set current = false where id = any($1::text[])', [[...demote]], PREPARED);
  }
  // Rows written per table, for the maintenance of databases without autovacuum (store/maintenance.ts).
  const writes = { observation_sightings: fastCount, port_observations: demote.size, observation_events: events.length };
  if (updates.size > 0) {
    // Two narrow writes instead of one wide one: what a sighting moves (last seen, times, checked, last run/job)
    // goes to observation_sightings; the document row is rewritten only for the few updates that change it
    // (first_seen of an older scan, state, current, names, tags, score). A stable pass thus never touches
    // port_observations and its search indexes (see store/schema/observation-sightings.ts).
    const sightings: UpdateRow[] = [];
    const docs: UpdateRow[] = [];
    for (const u of updates.values()) {
      const o = original.get(u.id)!;
      if (u.seen || u.checked_at !== o.checkedAt) sightings.push(u);
      if (u.first_seen !== o.firstSeen || u.state !== o.state || u.current !== o.current || u.state_changed_at !== null
        || u.hostnames !== null || u.tags !== null || u.rules !== null || u.score !== null) docs.push(u);
    }
    writes.observation_sightings += sightings.length;
    writes.port_observations += docs.length;
    if (sightings.length > 0) {
      // Times and flags travel as text[] (drizzle hands timestamp and boolean arrays to postgres.js unserialised).
      await tx.query(
        `update observation_sightings s set last_seen = x.last_seen, times_seen = x.times_seen, checked_at = x.checked_at,
           last_run_id = case when x.seen then $6 else s.last_run_id end,
           last_job_id = case when x.seen then $7 else s.last_job_id end
         from unnest($1::text[], $2::text[]::timestamptz[], $3::int[], $4::text[]::timestamptz[], $5::text[]::bool[])
           as x(id, last_seen, times_seen, checked_at, seen)
         where s.id = x.id`,
        [sightings.map((u) => u.id), sightings.map((u) => u.last_seen), sightings.map((u) => u.times_seen),
          sightings.map((u) => u.checked_at), sightings.map((u) => (u.seen ? 't' : 'f')), runId, jobId], PREPARED);
    }
    if (docs.length > 0) {
      await tx.query(
        `update port_observations o set
           first_seen = x.first_seen, state = x.state, state_changed_at = coalesce(x.state_changed_at, o.state_changed_at),
           current = x.current, hostnames = coalesce(x.hostnames, o.hostnames),
           tags = coalesce(x.tags, o.tags), rules = coalesce(x.rules, o.rules), score = coalesce(x.score, o.score),
           score_features = coalesce(x.score_features, o.score_features)
         from jsonb_to_recordset($1::jsonb) as x(id text, first_seen timestamptz, state text, state_changed_at timestamptz,
           current boolean, hostnames text[], tags text[], rules text[], score int, score_features jsonb)
         where o.id = x.id`,
        [JSON.stringify(docs.map((u) => ({
          id: u.id, first_seen: u.first_seen, state: u.state, state_changed_at: u.state_changed_at, current: u.current,
          hostnames: u.hostnames, tags: u.tags, rules: u.rules, score: u.score, score_features: u.score_features,
        })))], PREPARED);
    }
  }
  if (inserts.length > 0) {
    writes.observation_sightings += inserts.length;
    writes.port_observations += inserts.length;
    await tx.query(
      `insert into port_observations (id, ip, protocol, port, hsh256, fp_version, first_seen,
         state, current, state_changed_at, doc, fields, hostnames, tags, rules, score, score_features)
       select x.id, x.ip, x.protocol, x.port, x.hsh256, x.fp_version, x.first_seen, 'open', x.current,
         x.state_changed_at, x.doc, x.fields, x.hostnames, x.tags, x.rules, x.score, x.score_features
       from jsonb_to_recordset($1::jsonb) as x(id text, ip inet, protocol text, port int, hsh256 text, fp_version int,
         first_seen timestamptz, state_changed_at timestamptz, current boolean,
         doc jsonb, fields jsonb, hostnames text[], tags text[], rules text[], score int, score_features jsonb)`,
      [JSON.stringify(inserts)], PREPARED);
    await tx.query(
      `insert into observation_sightings (id, last_seen, times_seen, checked_at, last_run_id, last_job_id)
       select id, last_seen, 1, checked_at, $4, $5
       from unnest($1::text[], $2::text[]::timestamptz[], $3::text[]::timestamptz[]) as x(id, last_seen, checked_at)`,
      [inserts.map((r) => r.id), inserts.map((r) => r.last_seen), inserts.map((r) => r.checked_at), runId, jobId], PREPARED);
  }
  if (events.length > 0) {
    await tx.query(
      `insert into observation_events (id, type, ip, protocol, port, at, hsh256, previous_hsh256, observation_id,
         previous_observation_id, run_id, job_id)
       select x.id, x.type, x.ip, x.protocol, x.port, x.at, x.hsh256, x."previousHsh256", x."observationId",
         x."previousObservationId", $2, $3
       from jsonb_to_recordset($1::jsonb) as x(id text, type text, ip inet, protocol text, port int, at timestamptz,
         hsh256 text, "previousHsh256" text, "observationId" text, "previousObservationId" text)`,
      [JSON.stringify(events), runId, jobId], PREPARED);
  }
  return { observations, events, writes };
}

/**
 * Stores one job's parsed result: observations, events and the raw XML. See the
 * header comment for the rules. Returns what happened; throws only when nothing
 * could be stored (the result's own parse error is reported in `errors`).
 */
export async function ingestScanResult<H extends IngestHost>(store: Store, input: IngestInput<H>, deps: IngestDeps<H['ports'][number]> = {}): Promise<IngestSummary> {
  const now = new Date();
  const sha = input.rawXml ? createHash('sha256').update(input.rawXml).digest('hex') : input.resultSha256;
  const { runId, jobId, sameResult } = await resolveJob(store, input as IngestInput, sha, now);
  const summary: IngestSummary = {
    runId, jobId, hosts: 0, hostsUp: 0, ports: 0, appeared: 0, changed: 0, gone: 0, reappeared: 0, stable: 0,
    historic: 0, alreadyIngested: 0, errors: [], warnings: [],
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
      if (host.status === 'up' && !host.timedOut) summary.hostsUp++;
      const open = host.ports.filter((p) => p.state === OPEN).length;
      summary.ports += open;
      summary.alreadyIngested += open;
    }
    return summary;
  }
  if (input.rawXml && sha && !sameResult) {
    await storeRaw(store, input as IngestInput, runId, jobId, sha, now, input.scan.error?.message ?? null);
  }
  let coverage: PortCoverage | undefined;
  const scanRef = input.scan;
  const ctx: BatchCtx = {
    runId, jobId, now, deps: deps as IngestDeps,
    get run() {
      return scanRef.run;
    },
    get coverage() {
      coverage ??= coverageFrom(input.scope
        ? [{ protocol: 'tcp', spec: input.scope.tcpPorts }, { protocol: 'udp', spec: input.scope.udpPorts }]
        : (scanRef.run.scanInfo ?? []).map((s) => ({ protocol: s.protocol, spec: s.services })));
      return coverage;
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
    maintenance = noteWrites().catch((e) => {
      maintenanceError ??= e;
    }).finally(() => {
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
          if (deps.beforeCommit && (batchResult.observations.length || batchResult.events.length)) await deps.beforeCommit(tx, batchResult);
          return batchResult;
        });
      });
    } catch (e) {
      Object.assign(summary, before, { errors: summary.errors });
      // drizzle's message repeats the whole query and its parameters: keep the server's own message.
      const cause = (e as { cause?: unknown }).cause;
      const msg = cause instanceof Error ? cause.message : (e as Error).message;
      throw e instanceof PlumError ? e : new PlumError('database', `ingest failed: ${msg}`, {
        cause: e, hint: 'nothing of the failed batch was stored; fix the cause and ingest the same result again',
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
        // overlapping (bench/ingest.ts stable pass at 1M: 73 of 104 s spent waiting for it; with the turn: 20 s).
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
    [jobId, now.toISOString(), sha ?? null, error, summary.warnings.length ? JSON.stringify(summary.warnings) : null]);
  await store.query(
    `update runs set status = case when $2::text is not null then 'partial' else 'succeeded' end, finished_at = $3,
       counters = $4::jsonb
     where id = $1 and kind = 'import'`,
    [runId, error, now.toISOString(), JSON.stringify(await importRunCounters(store, runId, summary))]);
  return summary;
}

/** One line for humans: what an ingest did. */
export function formatIngestSummary(s: IngestSummary): string {
  const parts = [
    `${s.hosts} host${s.hosts === 1 ? '' : 's'} (${s.hostsUp} up)`, `${s.ports} open port${s.ports === 1 ? '' : 's'}`,
    `${s.appeared} appeared`, `${s.changed} changed`, `${s.gone} gone`, `${s.reappeared} reappeared`, `${s.stable} stable`,
  ];
  if (s.historic) parts.push(`${s.historic} older sightings`);
  if (s.alreadyIngested) parts.push(`${s.alreadyIngested} already ingested`);
  let line = `ingested ${parts.join(', ')} [run ${s.runId}, job ${s.jobId}]`;
  if (s.warnings?.length) line += `; note: ${s.warnings.join('; ')}`;
  if (s.errors.length) line += `; the result was incomplete: ${s.errors.join('; ')} (the valid part was stored)`;
  return line;
}
