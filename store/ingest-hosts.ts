import type { IngestHost } from './ingest.ts';

/**
 * Hosts as they arrive from the parser, before they are batched.
 *
 * nmap lists a host once per time it was given as a target (`nmap a a`), and
 * two listings of one address in one transaction would each claim its current
 * observations. Within a batch the last listing of an address wins (it is the
 * later look at the host); listings further apart are stored in order, like
 * two scans. Either way the import summary says so.
 */
export class LastListingWins {
  /** Where each address sits in the current batch. */
  private readonly inBatch = new Map<string, number>();
  /** Addresses listed more than once in the current ingest, with how often. */
  private readonly repeated = new Map<string, number>();
  /** Every address listed so far (IPv4 as a number: a few bytes per host even for millions). */
  private readonly listed = new Set<number | string>();

  /** Adds `host` to `batch`, replacing an earlier listing of the same address. */
  add<H extends IngestHost>(batch: H[], host: H): void {
    const key = addressKey(host.ip);
    if (this.listed.has(key)) this.repeated.set(host.ip, (this.repeated.get(host.ip) ?? 1) + 1);
    else this.listed.add(key);
    const at = this.inBatch.get(host.ip);
    if (at === undefined) {
      this.inBatch.set(host.ip, batch.length);
      batch.push(host);
    } else {
      batch[at] = host;
    }
  }

  /** The batch was handed to the database: a new one starts. */
  newBatch(): void {
    this.inBatch.clear();
  }

  /** One line for the import summary, or none. */
  warnings(): string[] {
    if (this.repeated.size === 0) return [];
    const shown = [...this.repeated].slice(0, 5).map(([ip, n]) => `${ip} (${n} times)`);
    const more = this.repeated.size > 5 ? ` and ${this.repeated.size - 5} more` : '';
    return [`the result lists ${this.repeated.size === 1 ? 'a host' : `${this.repeated.size} hosts`} more than once: ${shown.join(', ')}${more}; `
      + 'the last listing of each was kept (a target given twice to nmap is scanned twice)'];
  }
}

function addressKey(ip: string): number | string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  return m ? ((Number(m[1]) * 256 + Number(m[2])) * 256 + Number(m[3])) * 256 + Number(m[4]) : ip;
}

/** What the summary says of a host cut at the parser's per-host port limit. */
export function portsOmittedMessage(host: IngestHost): string {
  return `host ${host.ip} listed ${host.ports.length + host.portsOmitted!} ports; only the first ${host.ports.length} were kept `
    + '(a host answering on every port is usually a tarpit or a firewall; scan it with fewer ports to see the rest)';
}
