import { z } from 'zod';
import { PlumError } from '../errors.ts';
import { extractFields } from '../nmap/fields.ts';
import { fingerprintVersion, portFingerprint } from '../nmap/fingerprint.ts';
import { epochToIso } from '../nmap/host.ts';
import type {
  HostDocument,
  HostnameEntry,
  ParsedPort,
  PortDocument,
  PortState,
  ScriptDocument,
  ScriptTable,
  ScriptValue,
  ServiceDocument,
} from '../nmap/types.ts';
import { defaultVolatileList, type VolatileList } from '../nmap/volatile.ts';

/*
 * The predecessor's host documents (nmap2json; docs/migration.md, "History") → our own
 * port documents, fields and fingerprints, as our parser builds them from the
 * nmap XML (core/nmap/host.ts): the same `doc`, the same `fields`
 * (core/nmap/fields.ts) and so the same Plum hsh256, for every port whose
 * document the predecessor kept whole. The predecessor's own hsh256 values are
 * another algorithm (core/nmap/compat.ts): they are not kept.
 *
 * What a predecessor document cannot give back (docs/usage.md lists it): CPEs,
 * the port's owner, a keyless table beside keyless elems or another keyless
 * table, keyed elems named id/output, elems repeated under one key, and the
 * order of a certificate's extensions (sorted by name upstream). Such a port
 * gets another Plum hsh256 than its XML would.
 */

type PyValue = string | number | boolean | null | PyValue[] | { [k: string]: PyValue };
type PyDict = { [k: string]: PyValue };

const pyValue: z.ZodType<PyValue> = z.lazy(() => z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(pyValue), z.record(z.string(), pyValue)]));
const attributes = z.record(z.string(), z.union([z.string(), z.number(), z.null()]));

const portSchema = z
  .object({
    protocol: z.string().min(1),
    portid: z.union([z.string().regex(/^\d{1,5}$/), z.number().int().min(0).max(65535)]),
    state: attributes.and(z.object({ state: z.string() })),
    service: attributes.optional().nullable(),
    scripts: z
      .array(z.object({ id: z.string().min(1), output: z.string().nullable().optional() }).catchall(pyValue))
      .optional()
      .nullable(),
  })
  .passthrough();

/** One predecessor host document, as far as we read it (unknown members are ignored). */
export const nmap2jsonHostSchema = z
  .object({
    addr: z.string({ error: 'has no addr' }).min(1, { error: 'has no addr' }),
    hostnames: z
      .array(z.object({ name: z.string(), type: z.string().nullable().optional() }).passthrough())
      .optional()
      .nullable(),
    status: attributes.optional().nullable(),
    starttime: z.union([z.string(), z.number()]).optional().nullable(),
    endtime: z.union([z.string(), z.number()]).optional().nullable(),
    ports: z.array(portSchema).optional().nullable(),
  })
  .passthrough();
export type Nmap2jsonHostDocument = z.infer<typeof nmap2jsonHostSchema>;

/** A port with our document, fields and fingerprint (core/nmap/types.ts ParsedPort). */
export type LegacyPort = ParsedPort;

/** What the ingest takes of a host (store/ingest.ts IngestHost), from a predecessor document. */
export interface LegacyHost {
  ip: string;
  status: 'up' | 'down' | 'unknown';
  startedAt?: string;
  endedAt?: string;
  /** The predecessor kept no timeout flag: a timed-out host has no document at all (§2). */
  timedOut: false;
  hostnames: HostnameEntry[];
  ports: LegacyPort[];
}

const RESERVED_SCRIPT = new Set(['id', 'output', 'elems', 'tables']);
const RESERVED_TABLE = new Set(['elems', 'tables']);

/** Our name for a keyed member (core/nmap/host.ts putKeyed): reserved names get a `key:` prefix. */
const keyName = (key: string, reserved: ReadonlySet<string>) => (reserved.has(key) || key.startsWith('key:') ? `key:${key}` : key);

const isDict = (v: PyValue): v is PyDict => v !== null && typeof v === 'object' && !Array.isArray(v);
/** Element text: ElementTree's None for an empty element is our ''. */
const text = (v: PyValue | undefined): string => (v === null || v === undefined ? '' : typeof v === 'string' ? v : String(v));

/** A keyed value: text, a table (dict), or a table of keyless elems only (upstream returns those as a bare list). */
function scriptValue(v: PyValue): ScriptValue {
  if (isDict(v)) return tableOf(v);
  if (Array.isArray(v)) return listTable(v);
  return text(v);
}

/** Upstream's `__list__`/bare list: keyless elems (strings) or keyless tables. */
function fillList(t: ScriptTable, list: PyValue[]): void {
  if (list.length === 0) return;
  if (list.every((x) => !isDict(x) && !Array.isArray(x))) t.elems = list.map(text);
  else t.tables = list.map((x) => (isDict(x) ? tableOf(x) : Array.isArray(x) ? listTable(x) : { elems: [text(x)] }));
}

function listTable(list: PyValue[]): ScriptTable {
  const t: ScriptTable = {};
  fillList(t, list);
  return t;
}

function tableOf(d: PyDict): ScriptTable {
  const t: ScriptTable = {};
  for (const [k, v] of Object.entries(d)) {
    if (k === '__list__' && Array.isArray(v)) fillList(t, v);
    else t[keyName(k, RESERVED_TABLE)] = scriptValue(v);
  }
  return t;
}

/**
 * ssl-cert's `extensions`, which upstream turned into {name: value, "name critical": "true"}
 * from nmap's list of {name, value, critical} tables (in name order: the certificate's order is lost).
 */
function extensionTables(d: PyDict): ScriptTable {
  const tables: ScriptTable[] = [];
  for (const [name, value] of Object.entries(d)) {
    if (name.endsWith(' critical') && name.slice(0, -' critical'.length) in d) continue;
    const ext: ScriptTable = { name, value: text(value) };
    const critical = d[`${name} critical`];
    if (critical !== undefined) ext.critical = text(critical);
    tables.push(ext);
  }
  return tables.length ? { tables } : {};
}

function scriptDoc(s: PyDict): ScriptDocument {
  const doc: ScriptDocument = { id: text(s.id), output: text(s.output) };
  const keyless: ScriptTable[] = [];
  for (const [k, v] of Object.entries(s)) {
    if (k === 'id' || k === 'output') continue;
    if (k === 'elems' && Array.isArray(v)) doc.elems = v.map(text);
    // A keyless table directly under the script: upstream files it under "unknown".
    else if (k === 'unknown' && (isDict(v) || Array.isArray(v))) keyless.push(isDict(v) ? tableOf(v) : listTable(v));
    else if (k === 'extensions' && isDict(v) && !('__list__' in v) && s.id === 'ssl-cert') doc[k] = extensionTables(v);
    else doc[keyName(k, RESERVED_SCRIPT)] = scriptValue(v);
  }
  if (keyless.length) doc.tables = keyless;
  return doc;
}

function stringAttributes(a: Record<string, string | number | null> | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(a ?? {})) if (v !== null) out[k] = String(v);
  return out;
}

function portDoc(p: z.infer<typeof portSchema>): PortDocument {
  const st = stringAttributes(p.state);
  const doc: PortDocument = {
    protocol: p.protocol,
    portid: String(p.portid),
    state: { ...st, state: st.state ?? 'unknown' } as PortState,
    scripts: (p.scripts ?? []).map((s) => scriptDoc(s as PyDict)),
  };
  if (p.service) doc.service = stringAttributes(p.service) as ServiceDocument;
  return doc;
}

const statusOf = (s: string | undefined): LegacyHost['status'] => (s === 'up' || s === 'down' ? s : 'unknown');

/**
 * One checked predecessor document → the host the ingest takes. Pure: the same
 * document and volatile list give the same ports, fields and hsh256.
 */
export function legacyHostOf(d: Nmap2jsonHostDocument, volatile: VolatileList = defaultVolatileList()): LegacyHost {
  const hostnames: HostnameEntry[] = (d.hostnames ?? []).map((h) => ({ name: h.name, type: h.type ?? '' }));
  const status = stringAttributes(d.status);
  const ports = (d.ports ?? []).map(portDoc);
  const starttime = d.starttime === null || d.starttime === undefined ? undefined : String(d.starttime);
  const endtime = d.endtime === null || d.endtime === undefined ? undefined : String(d.endtime);
  // What extractFields reads of a host: its address and names (the rest is not in the predecessor's document).
  const host: HostDocument = {
    addr: d.addr,
    addresses: [],
    hostnames,
    status: { ...status, state: status.state ?? 'unknown' },
    ports,
    extraports: [],
    hostscripts: [],
    extra: {},
  };
  const fpVersion = fingerprintVersion(volatile);
  return {
    ip: d.addr,
    status: statusOf(status.state),
    startedAt: epochToIso(starttime),
    endedAt: epochToIso(endtime),
    timedOut: false,
    hostnames,
    ports: ports.map((p) => ({
      ip: d.addr,
      protocol: p.protocol,
      port: Number(p.portid),
      state: p.state.state,
      hsh256: portFingerprint(p, volatile),
      fpVersion,
      fields: extractFields(host, p),
      doc: p,
    })),
  };
}

/** Checks one parsed JSON value as a predecessor host document; `where` names it in the error. */
export function checkHostDocument(value: unknown, where: string): Nmap2jsonHostDocument {
  if (!isDict(value as PyValue)) {
    throw new PlumError('parse_error', `${where} is not a host document (a JSON object with addr and ports)`, {
      hint: "give the predecessor's stored results or search exports: lists of nmap2json host documents",
    });
  }
  const r = nmap2jsonHostSchema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const path = issue.path.join('.');
  const message = issue.message === 'has no addr' ? 'has no addr' : `${path ? `${path}: ` : ''}${issue.message.toLowerCase()}`;
  throw new PlumError('parse_error', `${where} ${message === 'has no addr' ? message : `is not an nmap2json host document (${message})`}`, {
    hint: "give the predecessor's stored results or search exports: lists of nmap2json host documents",
  });
}
