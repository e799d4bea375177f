import type { ChangeCounts } from '../core/counts.ts';
import type { SearchFields } from '../core/fields.ts';
import type { FieldDiff } from '../core/history/diff.ts';
import type { EventType } from './schema/observation-events.ts';
import type { RunOwner } from './repos/run-owners.ts';

/** What ingest takes and gives: the parsed scan, the job it belongs to, the hooks, the summary. */

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
  /** nmap's reason for the status ("user-set" with -Pn), and its <extraports>: whether the host answered (core/history/answered.ts). */
  statusReason?: string;
  extraPorts?: { state: string; reasons: string[] }[];
  startedAt?: string;
  endedAt?: string;
  timedOut: boolean;
  /** Ports the parser dropped past its per-host limit: reported in the summary's errors. */
  portsOmitted?: number;
  hostnames: { name: string; type: string }[];
  ports: IngestPort[];
}
export interface IngestRunInfo {
  /** nmap's command line (`<nmaprun args>`): an imported result's view (core/history/view.ts). */
  args?: string;
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
  /**
   * The scan settings the result was taken with (core/history/view.ts). Default: the job's scripts and nmap
   * options for a scan job, else nmap's own command line in the result.
   */
  view?: string;
}

export interface StoredObservation {
  id: string;
  ip: string;
  protocol: string;
  port: number;
  hsh256: string;
  /** The view that took this fingerprint (core/history/view.ts). */
  view: string;
  state: 'open' | 'closed';
  firstSeen: string;
  lastSeen: string;
  fields: SearchFields;
  tags: string[];
  score: number;
  /**
   * Set for a stable sighting that moved only its sightings row (the stable fast path): its document, tags, state
   * and history are as they were, so nothing about its judgement changed but what time does: its certificate
   * facts, judged at its last sighting, which was `previousSeen` before this one (scan times), and its score,
   * if `scoreTimed` (port_observations.score_timed; null: never scored).
   */
  readonly settled?: { readonly previousSeen: string; readonly scoreTimed: boolean | null };
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
  /** changed: what changed, field by field (core/history/diff.ts). */
  changes?: FieldDiff[];
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
