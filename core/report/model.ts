/**
 * The report model: everything a report says, computed once from the database
 * (activities/report.ts) and rendered by pure functions (markdown.ts). Keeping
 * the model plain data lets a preview, a scheduled run and a test render the
 * exact same text from the same facts.
 */

export type ChangeType = 'appeared' | 'changed' | 'gone' | 'reappeared';
export const CHANGE_TYPES: readonly ChangeType[] = ['appeared', 'changed', 'gone', 'reappeared'];

export interface ReportPeriod {
  /** ISO-8601 bounds, `from` inclusive, `to` exclusive. */
  from: string;
  to: string;
  /** The period of the same length just before, used for comparison. */
  previousFrom: string;
  previousTo: string;
}

/** One open service on a host, as shown in the hosts section. */
export interface ReportService {
  protocol: string;
  port: number;
  /** Short description: service name, product and version when known. */
  service?: string;
  title?: string;
  server?: string;
  tags: string[];
  score?: number;
  firstSeen: string;
  lastSeen: string;
  /** The port was found closed by a later scan (it went away during or after the period). */
  closed?: boolean;
}

export interface ReportHostNames {
  /** Names the scan was given (hostname type="user"). */
  requested: string[];
  ptr: string[];
  /** Certificate subject CN and SAN names. */
  certificate: string[];
}

export interface ReportHost {
  ip: string;
  score: number;
  /** One line: why the score is what it is (top features). */
  scoreExplanation: string;
  tags: string[];
  names: ReportHostNames;
  services: ReportService[];
  firstSeen: string;
  lastSeen: string;
}

/** One field that differs between the old and the new observation of a changed port. */
export interface FieldChange {
  /** Human label (title, server, certificate...). */
  label: string;
  old: string[];
  new: string[];
}

export interface ReportChange {
  type: ChangeType;
  ip: string;
  protocol: string;
  port: number;
  at: string;
  /** What is (or, for gone, was) on the port, one line. */
  summary?: string;
  /** For `changed`: the fields that differ, old → new. */
  fields?: FieldChange[];
}

export interface PortCount {
  protocol: string;
  port: number;
  /** Most frequent service name seen on the port, if any. */
  service?: string;
  hosts: number;
  /** Hosts in the previous period, for the trend column. */
  previousHosts?: number;
}

export interface TagCount {
  tag: string;
  hosts: number;
  ports: number;
}

export interface ReportCoverage {
  /** Runs that finished (or imports) whose results fall in the period. */
  runs: number;
  /** Distinct scan jobs that produced observations in the period. */
  jobs?: number;
  lastScanAt?: string;
  /** Free-form caveats to add to the disclaimer (e.g. interrupted runs). */
  notes: string[];
}

export interface ReportTotals {
  hosts: number;
  ports: number;
  observations: number;
}

export interface ReportModel {
  title: string;
  description?: string;
  /** The query text as the user wrote it ('' = everything). */
  query: string;
  generatedAt: string;
  period: ReportPeriod;
  totals: ReportTotals;
  previousTotals?: ReportTotals;
  portCounts: PortCount[];
  changes: Record<ChangeType, ReportChange[]>;
  /** Number of events of each type in the previous period. */
  previousChangeCounts: Record<ChangeType, number>;
  /** Hosts, highest exposure score first. */
  hosts: ReportHost[];
  /** Hosts left out of `hosts` by a limit (0 when all are listed). */
  hostsOmitted: number;
  tagCounts: TagCount[];
  coverage: ReportCoverage;
}

export function emptyChanges(): Record<ChangeType, ReportChange[]> {
  return { appeared: [], changed: [], gone: [], reappeared: [] };
}

export function zeroChangeCounts(): Record<ChangeType, number> {
  return { appeared: 0, changed: 0, gone: 0, reappeared: 0 };
}
