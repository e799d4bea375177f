import { XMLParser } from 'fast-xml-parser';
import ipaddr from 'ipaddr.js';
import { PlumError } from '../errors.ts';

/*
 * masscan's output files → records of our own: one per line masscan wrote.
 * masscan writes every format a line at a time, and reports each port twice or
 * more: first the SYN-ACK (a status), then, with --banners, one record per
 * banner it grabbed (`ssh`, `http`, `title`, `http.server`, `X509`…), often
 * seconds later. Merging them into ports is core/masscan/hosts.ts.
 *
 *   -oX  nmap-like XML, one <host> element per line, banners escaped as \xHH
 *   -oJ  a JSON array, one object per line (`{ip, timestamp, ports: [{port, proto, status|service}]}`)
 *   -oD  NDJSON, one object per line (`{ip, timestamp, port, proto, rec_type, data}`)
 */

export type MasscanFormat = 'xml' | 'json' | 'ndjson';

export interface MasscanRecord {
  ip: string;
  protocol: string;
  port: number;
  /** Seconds since the epoch, when the line has one. */
  time?: number;
  /** A status line: the port's state and why masscan thinks so. */
  status?: { state: string; reason?: string; ttl?: string };
  /** A banner line: masscan's name for what it grabbed, and the text (bytes decoded as UTF-8 where they are). */
  banner?: { name: string; text: string };
}

const HINT = 'give a file masscan wrote with -oX, -oJ or -oD';

/** The format of a masscan file from its first bytes; undefined when it is none of masscan's. */
export function detectMasscanFormat(head: string): MasscanFormat | undefined {
  const text = head.replace(/^\uFEFF/, '').trimStart();
  if (text.startsWith('<')) return /<nmaprun\b[^>]*\bscanner="masscan"/.test(text) ? 'xml' : undefined;
  if (text.startsWith('[')) return 'json';
  if (text.startsWith('{')) return /"rec_type"\s*:/.test(text.slice(0, text.indexOf('\n') >>> 0)) ? 'ndjson' : 'json';
  return undefined;
}

/**
 * masscan escapes a banner's bytes: `\xHH` in XML, `\u00HH` in JSON, one per byte. Both come out as
 * characters below U+0100 standing for bytes; read them back as UTF-8 where they are valid UTF-8.
 */
export function bannerText(s: string): string {
  const bytes = s.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  if (!/[\u0080-\u00ff]/.test(bytes) || /[^\u0000-\u00ff]/.test(bytes)) return bytes;
  const utf8 = Buffer.from(bytes, 'latin1').toString('utf8');
  return utf8.includes('\uFFFD') ? bytes : utf8;
}

const xml = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseAttributeValue: false,
  isArray: (name) => name === 'port' || name === 'address',
});

function fail(where: string, what: string): never {
  throw new PlumError('parse_error', `${where}: ${what}`, { hint: HINT });
}

function checkIp(ip: unknown, where: string): string {
  if (typeof ip !== 'string' || !ipaddr.isValid(ip)) fail(where, `"${String(ip)}" is not an IP address`);
  return ipaddr.parse(ip).toString();
}

function checkPort(port: unknown, where: string): number {
  const n = typeof port === 'string' && /^\d{1,5}$/.test(port) ? Number(port) : port;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) fail(where, `"${String(port)}" is not a port number`);
  return n;
}

const timeOf = (v: unknown): number | undefined => {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : typeof v === 'number' && Number.isInteger(v) ? v : undefined;
  return n !== undefined && n > 0 ? n : undefined;
};

const protocolOf = (v: unknown): string => (typeof v === 'string' && /^[a-z]{1,8}$/i.test(v) ? v.toLowerCase() : 'tcp');

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function xmlLine(line: string, where: string): MasscanRecord[] {
  if (!/^<host[\s>]/.test(line)) return [];
  let doc: Obj;
  try {
    doc = xml.parse(line) as Obj;
  } catch (e) {
    fail(where, `invalid XML (${(e as Error).message.split('\n')[0]})`);
  }
  const host = doc.host;
  if (!isObj(host)) fail(where, 'a <host> element without content');
  const address = (host.address as Obj[] | undefined)?.[0];
  const ip = checkIp(address?.addr, where);
  const time = timeOf(host.endtime);
  const ports = isObj(host.ports) ? ((host.ports.port as Obj[] | undefined) ?? []) : [];
  const out: MasscanRecord[] = [];
  for (const p of ports) {
    const rec: MasscanRecord = { ip, protocol: protocolOf(p.protocol), port: checkPort(p.portid, where), ...(time ? { time } : {}) };
    const service = p.service;
    if (isObj(service) && typeof service.name === 'string') rec.banner = { name: service.name, text: bannerText(String(service.banner ?? '')) };
    else if (isObj(p.state)) {
      rec.status = {
        state: String(p.state.state ?? 'open'),
        ...(p.state.reason !== undefined ? { reason: String(p.state.reason) } : {}),
        ...(p.state.reason_ttl !== undefined ? { ttl: String(p.state.reason_ttl) } : {}),
      };
    }
    if (rec.banner || rec.status) out.push(rec);
  }
  return out;
}

function jsonValue(line: string, where: string): Obj | undefined {
  const text = line.replace(/,\s*$/, '').trim();
  if (text === '' || text === '[' || text === ']' || text === ',') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    fail(where, "not a JSON object of masscan's (-oJ writes one per line)");
  }
  if (!isObj(v)) fail(where, 'not a JSON object');
  return v;
}

function statusOf(o: Obj): MasscanRecord['status'] {
  return {
    state: typeof o.status === 'string' ? o.status : 'open',
    ...(o.reason !== undefined ? { reason: String(o.reason) } : {}),
    ...(o.ttl !== undefined ? { ttl: String(o.ttl) } : {}),
  };
}

function jsonLine(line: string, where: string): MasscanRecord[] {
  const o = jsonValue(line, where);
  if (!o) return [];
  const ip = checkIp(o.ip, where);
  const time = timeOf(o.timestamp);
  if (!Array.isArray(o.ports)) fail(where, 'has no "ports" list');
  const out: MasscanRecord[] = [];
  for (const p of o.ports) {
    if (!isObj(p)) fail(where, 'a port that is not an object');
    const rec: MasscanRecord = { ip, protocol: protocolOf(p.proto), port: checkPort(p.port, where), ...(time ? { time } : {}) };
    if (isObj(p.service) && typeof p.service.name === 'string') rec.banner = { name: p.service.name, text: bannerText(String(p.service.banner ?? '')) };
    else rec.status = statusOf(p);
    out.push(rec);
  }
  return out;
}

function ndjsonLine(line: string, where: string): MasscanRecord[] {
  const o = jsonValue(line, where);
  if (!o) return [];
  const ip = checkIp(o.ip, where);
  const time = timeOf(o.timestamp);
  const rec: MasscanRecord = { ip, protocol: protocolOf(o.proto), port: checkPort(o.port, where), ...(time ? { time } : {}) };
  const data = isObj(o.data) ? o.data : {};
  if (o.rec_type === 'banner') {
    if (typeof data.service_name !== 'string') fail(where, 'a banner without a service_name');
    rec.banner = { name: data.service_name, text: bannerText(String(data.banner ?? '')) };
  } else if (o.rec_type === 'status') rec.status = statusOf(data);
  else return [];
  return [rec];
}

const READERS: Record<MasscanFormat, (line: string, where: string) => MasscanRecord[]> = { xml: xmlLine, json: jsonLine, ndjson: ndjsonLine };

/** The records of one line of a masscan file; `where` (file:line) names it in errors. */
export function masscanRecordsOfLine(format: MasscanFormat, line: string, where: string): MasscanRecord[] {
  return READERS[format](line.trim(), where);
}
