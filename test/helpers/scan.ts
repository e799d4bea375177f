import { createHash } from 'node:crypto';
import { emptySearchFields } from '../../core/fields.ts';
import type { IngestHost, IngestPort, IngestScan } from '../../store/ingest.ts';

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
