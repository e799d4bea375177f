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

/** Every counter at zero (a job that stored nothing). */
export const noChanges = (): ChangeCounts => ({ hosts: 0, hostsUp: 0, ports: 0, appeared: 0, changed: 0, gone: 0, reappeared: 0 });

/** The counters alone, out of a record that carries more (an ingest summary). */
export function changeCountsOf(c: ChangeCounts): ChangeCounts {
  return { hosts: c.hosts, hostsUp: c.hostsUp, ports: c.ports, appeared: c.appeared, changed: c.changed, gone: c.gone, reappeared: c.reappeared };
}
