import { createHash } from 'node:crypto';
import { emptySearchFields } from '../../core/fields.ts';
import type { Store } from '../../store/index.ts';
import { ingestScanResult, type IngestHost, type IngestPort, type IngestScan } from '../../store/ingest.ts';

/**
 * Builds parsed-scan data (the parser's output shape) for store tests that need
 * exact control over times, states and fingerprints. XML-based tests use the
 * real parser instead.
 */
export function port(portNo: number, content: string, opts: { protocol?: string; state?: string } = {}): IngestPort {
  const protocol = opts.protocol ?? 'tcp';
  const state = opts.state ?? 'open';
  const fields = { ...emptySearchFields(), port: [String(portNo)], protocol: [protocol], state: [state], banner: [content] };
  const doc = { protocol, portid: String(portNo), state: { state }, banner: content };
  return { protocol, port: portNo, state, hsh256: createHash('sha256').update(`${protocol}/${portNo}/${content}`).digest('hex'), fpVersion: 1, fields, doc };
}

/** An open HTTP port with a page title (search fields and document), fingerprinted from address, port and title. */
export function titledPort(ip: string, portNo: number, title: string): IngestPort {
  const fields = { ...emptySearchFields(), ip: [ip], port: [String(portNo)], protocol: ['tcp'], state: ['open'], service_name: ['http'], http_title: [title] };
  return {
    protocol: 'tcp',
    port: portNo,
    state: 'open',
    fpVersion: 1,
    fields,
    doc: { title },
    hsh256: createHash('sha256').update(`${ip}:${portNo}:${title}`).digest('hex'),
  };
}

export function host(ip: string, at: string, ports: IngestPort[], opts: { status?: string; timedOut?: boolean } = {}): IngestHost {
  const end = new Date(at);
  return {
    ip,
    status: opts.status ?? 'up',
    timedOut: opts.timedOut ?? false,
    startedAt: new Date(end.getTime() - 5000).toISOString(),
    endedAt: end.toISOString(),
    hostnames: [{ name: `h-${ip.replace(/[.:]/g, '-')}.example.test`, type: 'PTR' }],
    ports,
  };
}

export function scan(hosts: IngestHost[], services = '22,80,443', error?: Error): IngestScan {
  return { run: { finished: !error, scanInfo: [{ type: 'connect', protocol: 'tcp', services }] }, hosts, ...(error ? { error } : {}) };
}

/** The two ports of ingestFlappingHost: 80 flaps, 22 stays. */
export const FLAPPING_HOST_PORTS = { web: port(80, 'nginx'), ssh: port(22, 'SSH-2.0-OpenSSH_9.6') };

/**
 * Daily scans of `ip` up to `now`: port 80 went away three times within the last six days (PLUM_FLAPPING's default,
 * 3/7d, is met) and is back at the last scan; port 22 stayed throughout.
 */
export async function ingestFlappingHost(store: Store, ip: string, now: number): Promise<void> {
  const { web, ssh } = FLAPPING_HOST_PORTS;
  const scans: Array<[number, IngestPort[]]> = [
    [6, [web, ssh]],
    [5, [ssh]],
    [4, [web, ssh]],
    [3, [ssh]],
    [2, [web, ssh]],
    [1, [ssh]],
    [0.5, [web, ssh]],
  ];
  for (const [daysAgo, ports] of scans) {
    const at = new Date(now - daysAgo * 86_400_000).toISOString();
    await ingestScanResult(store, { scan: scan([host(ip, at, ports)], '22,80'), source: `flap ${ip} ${at}` });
  }
}
