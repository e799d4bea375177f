import type { PlumError } from '../errors.ts';
import type { SearchFields } from '../fields.ts';

/*
 * Our own types for what nmap said. The parser (parse.ts) maps nmap XML into
 * these at the edge; nothing else in Plum reads nmap XML. All values that come
 * from nmap stay strings (numbers only where we key on them: `port`).
 */

export interface NmapScanInfo {
  type: string;
  protocol: string;
  /** nmap's port list, e.g. "22,80,443" or "1-1000". */
  services: string;
  numservices?: string;
}

export interface NmapRunInfo {
  scanner: string;
  version: string;
  args: string;
  /** ISO-8601 (from nmaprun@start). */
  startedAt?: string;
  /** ISO-8601 (from runstats/finished@time). */
  endedAt?: string;
  /** True when the file ends with nmap's runstats (nmap was not killed mid-write). */
  finished: boolean;
  /** runstats/finished@exit ("success" | "error"), when present. */
  exit?: string;
  /** runstats/finished@errormsg, when nmap reported one. */
  errorMessage?: string;
  scanInfo: NmapScanInfo[];
  /** runstats/hosts counts, when present. */
  hostsUp?: number;
  hostsDown?: number;
}

/** A generic XML element kept verbatim: attributes as strings, children by tag name. */
export interface XmlNode {
  [key: string]: string | XmlNode | XmlNode[] | string[] | undefined;
}

/**
 * Nested NSE data. Keyed `<elem>` → string field, keyed `<table>` → nested
 * object, keyless `<elem>`s → `elems` (in order), keyless `<table>`s →
 * `tables` (in order). A keyed child whose key collides with a reserved name
 * (`id`, `output`, `elems`, `tables`) is stored as `key:<name>`; a key seen twice
 * turns into a list of its values, so nothing is overwritten.
 */
export type ScriptValue = string | ScriptTable | ScriptValue[];
export interface ScriptTable {
  [key: string]: ScriptValue | undefined;
  elems?: string[];
  tables?: ScriptTable[];
}

export interface ScriptDocument extends ScriptTable {
  id: string;
  output: string;
}

export interface PortState {
  state: string;
  reason?: string;
  reason_ttl?: string;
  reason_ip?: string;
}

export interface ServiceDocument {
  /** Every attribute of <service> (name, product, version, extrainfo, method, conf, tunnel, ostype, devicetype, hostname, servicefp...). */
  [attr: string]: string | string[] | undefined;
  name?: string;
  /** <cpe> children, in order. */
  cpe?: string[];
}

/** One port as nmap reported it; the unit of fingerprinting and storage. */
export interface PortDocument {
  protocol: string;
  portid: string;
  state: PortState;
  service?: ServiceDocument;
  scripts: ScriptDocument[];
  /** <owner name> (ident), when present. */
  owner?: string;
}

export interface HostnameEntry {
  name: string;
  /** "user" (the name nmap was given) or "PTR" (reverse DNS). */
  type: string;
}

export interface AddressEntry {
  addr: string;
  addrtype: string;
  vendor?: string;
}

export interface ExtraPorts {
  state: string;
  count: string;
  reasons: { reason: string; count: string; proto?: string; ports?: string }[];
}

export interface OsMatch {
  name: string;
  accuracy: string;
  line?: string;
  osclass: { [attr: string]: string | string[] | undefined; cpe?: string[] }[];
}

export interface HostDocument {
  addr: string;
  addresses: AddressEntry[];
  hostnames: HostnameEntry[];
  status: { state: string; reason?: string; reason_ttl?: string };
  starttime?: string;
  endtime?: string;
  /** hosts that hit --host-timeout have no ports and timedout="true". */
  timedout?: string;
  ports: PortDocument[];
  /** Ports the host listed beyond MAX_PORTS_PER_HOST, dropped by the parser (absent when none were). */
  portsOmitted?: number;
  extraports: ExtraPorts[];
  hostscripts: ScriptDocument[];
  os?: {
    portused: { [attr: string]: string }[];
    osmatch: OsMatch[];
    /** nmap < 6 lists osclass next to osmatch instead of inside it. */
    osclass?: OsMatch['osclass'];
    osfingerprint: string[];
    /** Any other child of <os>. */
    extra?: Record<string, XmlNode[]>;
  };
  /** Any other child of <host> (uptime, distance, tcpsequence, trace, times, smurf...), kept generically. */
  extra: Record<string, XmlNode[]>;
}

export interface ParsedPort {
  ip: string;
  protocol: string;
  port: number;
  state: string;
  hsh256: string;
  fpVersion: number;
  fields: SearchFields;
  doc: PortDocument;
}

export interface ParsedHost {
  ip: string;
  status: 'up' | 'down' | 'unknown';
  statusReason: string;
  /**
   * The states and reasons of the host's <extraports> (all of it is in `doc`, which may be built on demand): what
   * tells whether the host answered (core/history/answered.ts).
   */
  extraPorts: { state: string; reasons: string[] }[];
  startedAt?: string;
  endedAt?: string;
  addresses: AddressEntry[];
  hostnames: HostnameEntry[];
  /** Also true when ports were omitted (MAX_PORTS_PER_HOST): what is missing is unknown, not gone. */
  timedOut: boolean;
  /** Ports the host listed beyond MAX_PORTS_PER_HOST (absent when none were dropped). */
  portsOmitted?: number;
  hsh256: string;
  fpVersion: number;
  doc: HostDocument;
  ports: ParsedPort[];
}

export interface ParsedScan {
  run: NmapRunInfo;
  hosts: ParsedHost[];
  /** Truncation or invalid XML after the valid hosts (code 'truncated' or 'parse_error'). */
  error?: PlumError;
}

export interface ParseOptions {
  /** Keep only open ports and hosts with at least one open port (the agents' mode). */
  openOnly?: boolean;
  /** Largest accepted <host> element, in bytes (default 64 MiB): bounds memory on hostile input. */
  maxHostBytes?: number;
  /** Volatile list used by the fingerprint; default: rules/fingerprint/volatile.yaml. */
  volatile?: import('./volatile.ts').VolatileList;
  /** Where the input came from (file path), used in error messages. */
  source?: string;
  /**
   * Worker threads for parseNmapStream: 'auto' (default: one per core beyond
   * two, at most two; none below four cores — see autoWorkers) or a number (0 = parse in the calling thread only; the
   * calling thread parses too when there are threads). Output is the same
   * either way; threads start only once the input is large enough
   * (`parallelMinBytes`).
   */
  workers?: 'auto' | number;
  /** Host text read before worker threads start (default 2 MiB): small inputs never pay for starting them. */
  parallelMinBytes?: number;
  /**
   * Send every batch to the threads, waiting for them to start, instead of
   * parsing in the calling thread meanwhile (tests, and benchmarks of the
   * threads alone). Default false.
   */
  waitForThreads?: boolean;
  /**
   * Drop each host's and port's document once fingerprinted and its fields
   * extracted, and rebuild it from the host's XML text when `doc` is first
   * read (a getter on the port: absent from JSON.stringify and spreads). For
   * consumers that hold many hosts and read few documents: ingest, where a
   * stable sighting stores no document. Streamed parses only
   * (parseNmapStream: parseNmapString keeps no text per host); hosts parsed
   * by worker threads keep their documents (they are copied between threads
   * anyway). Default false.
   */
  documentsOnDemand?: boolean;
  /**
   * With `documentsOnDemand`: extract a port's search fields only when
   * `fields` is first read (from the rebuilt documents), not while parsing.
   * For consumers that read no fields at arrival (ingest without tag rules);
   * one that reads them for every port (tag rules) would parse every host
   * twice. Default false.
   */
  fieldsOnDemand?: boolean;
}
