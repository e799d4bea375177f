import { createHash } from 'node:crypto';
import type { IngestHost } from './ingest-types.ts';

/**
 * Hosts as they arrive from the parser, before they are batched.
 *
 * nmap lists a host once per time it was given as a target (`nmap a a`), and
 * two listings of one address with different content in one transaction would
 * each claim its current observations. Within a batch the last listing of an
 * address wins (it is the later look at the host); listings further apart are
 * stored in order, like two scans. Either way the import summary says so.
 * Identical listings are left alone: the store counts the repeat as already
 * ingested.
 */
export class LastListingWins {
  /** Where each address sits in the current batch (identical listings may sit there several times). */
  private readonly inBatch = new Map<string, number[]>();
  /** Addresses listed more than once with different content in the current ingest, with how often. */
  private readonly repeated = new Map<string, number>();
  /** Every address listed so far (IPv4 as a number) with a digest of its last listing. */
  private readonly listed = new Map<number | string, string>();

  /**
   * Adds `host` to `batch`. An identical earlier listing stays (the store counts the repeat as already
   * ingested); one with other content is replaced by this one, wherever it sits in the batch.
   */
  add<H extends IngestHost>(batch: H[], host: H): void {
    const key = addressKey(host.ip);
    const content = contentKey(host);
    const before = this.listed.get(key);
    this.listed.set(key, content);
    const differs = before !== undefined && before !== content;
    if (differs) this.repeated.set(host.ip, (this.repeated.get(host.ip) ?? 1) + 1);
    const at = this.inBatch.get(host.ip);
    if (at === undefined) {
      this.inBatch.set(host.ip, [batch.length]);
      batch.push(host);
    } else if (differs) {
      for (const i of at) batch[i] = host;
    } else {
      at.push(batch.length);
      batch.push(host);
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
    return [
      `the result lists ${this.repeated.size === 1 ? 'a host' : `${this.repeated.size} hosts`} more than once: ${shown.join(', ')}${more}; ` +
        'the last listing of each was kept (a target given twice to nmap is scanned twice)',
    ];
  }
}

/** What makes two listings of a host the same result (its ports, states and fingerprints), as a short digest. */
function contentKey(host: IngestHost): string {
  const h = createHash('sha1');
  for (const p of host.ports) h.update(`${p.protocol}/${p.port}/${p.state}/${p.hsh256} `);
  return h.digest('base64');
}

function addressKey(ip: string): number | string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  return m ? ((Number(m[1]) * 256 + Number(m[2])) * 256 + Number(m[3])) * 256 + Number(m[4]) : ip;
}

/** What the summary says of a host cut at the parser's per-host port limit. */
export function portsOmittedMessage(host: IngestHost): string {
  return (
    `host ${host.ip} listed ${host.ports.length + host.portsOmitted!} ports; only the first ${host.ports.length} were kept ` +
    '(a host answering on every port is usually a tarpit or a firewall; scan it with fewer ports to see the rest)'
  );
}
