/**
 * What one ingest (a job, a file) or a whole run found: the counters every
 * layer reports — store ingest, the run logic, the CLI summaries and the API.
 */
export interface ChangeCounts {
  hosts: number;
  hostsUp: number;
  /** Open ports seen. */
  ports: number;
  appeared: number;
  changed: number;
  gone: number;
  reappeared: number;
}
