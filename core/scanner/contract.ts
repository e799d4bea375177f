import type { AddressEntry, HostnameEntry, ParsedPort } from '../nmap/types.ts';

/*
 * The contract every scanner Plum runs implements: nmap (fingerprinting), masscan (scouting) and the TLS
 * scanner. A job reaches a scanner as data (targets that passed the scope guard, ports, options); the
 * scanner alone turns it into a command line, runs it, and turns what it wrote into our own types, so
 * that ingest, history, tags, scores, search and change events treat every scanner's findings alike.
 *
 * What an implementation guarantees:
 * - `buildArgs` returns an argument array for spawn without a shell, built from an allowlist: a target
 *   that is not an address, range, network or name, an option outside the scanner's list, or a value
 *   that could be read as an option is refused with a PlumError('usage') whatever the caller checked;
 * - `run` starts the program in its own process group, reports progress, and on `signal` or timeout kills
 *   the group and still returns the output written so far (interrupted = true);
 * - `read` is a pure mapping of the output to hosts and ports; each port carries a fingerprint (hsh256)
 *   that is stable for an unchanged service (volatile values left out) and a `view` naming what the scan
 *   looked at (core/history/view.ts), so fingerprints are only compared with the same scanner's.
 */

export type ScannerName = 'nmap' | 'masscan' | 'sslscan';

/** One job as a scanner takes it. */
export interface ScannerJob {
  /** Addresses, ranges, networks or names; the scope guard ran before, and the scanner checks the syntax again. */
  targets: string[];
  /** Port list in nmap's syntax (`22,80,8000-8100`); empty when the scanner takes ports from `pairs`. */
  tcpPorts: string;
  udpPorts?: string;
  /** Exactly these (address, port) pairs instead of targets × ports (the second stage of a two-stage profile). */
  pairs?: Array<{ ip: string; protocol: 'tcp' | 'udp'; port: number }>;
  /** The scanner's own options, each checked against its allowlist by `buildArgs`. */
  options?: Record<string, string | number | boolean>;
  /** Kill the scanner after this long; what it wrote so far is returned. */
  timeoutMs?: number;
}

export interface ScanProgress {
  /** What the scanner is doing (nmap's phase, `masscan`, `sslscan 3/10`…). */
  phase: string;
  /** 0-100, of the job. */
  percent: number;
  etaSeconds?: number;
  hostsCompleted?: number;
  hostsUp?: number;
  /** Packets sent so far, for scanners that count them. */
  packets?: number;
}

export interface ScannerRunOptions {
  signal?: AbortSignal;
  onProgress?(p: ScanProgress): void;
}

export interface ScannerOutput {
  /** What the scanner wrote (its XML, JSON…), complete or, when interrupted, as far as it got. */
  output: Buffer;
  exitCode: number | null;
  stderr: string;
  interrupted: boolean;
  interruptReason?: 'timeout' | 'cancelled';
  durationMs: number;
  /** The argument list it ran with (logs, the run's page). */
  args: string[];
}

/** A host as every scanner reports it: what store/ingest-types.ts IngestHost reads. */
export interface ScannedHost {
  ip: string;
  status: 'up' | 'down' | 'unknown';
  startedAt?: string;
  endedAt?: string;
  addresses?: AddressEntry[];
  hostnames: HostnameEntry[];
  /** True when the scanner gave up on the host: its unseen ports are unknown, never gone. */
  timedOut: boolean;
  ports: ParsedPort[];
}

export interface ScannedResult {
  /** The scan's settings as history compares them (core/history/view.ts): one per result. */
  view: string;
  startedAt?: string;
  endedAt?: string;
  /** False when the output ends before the scanner's closing record (interrupted, truncated). */
  finished: boolean;
  hosts: ScannedHost[];
  /** What could not be read after the valid part, as a one-line message. */
  error?: string;
}

export interface Scanner<J extends ScannerJob = ScannerJob> {
  readonly name: ScannerName;
  buildArgs(job: J, outputPath: string): Promise<string[]>;
  run(job: J, opts?: ScannerRunOptions): Promise<ScannerOutput>;
  read(output: Buffer, job: J): ScannedResult;
}
