import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { PlumError } from '../errors.ts';
import type { SearchFields } from '../fields.ts';
import { extractFields } from './fields.ts';
import { parseXmlSubset } from './xml-subset.ts';
import { fingerprintVersion, hostFingerprint, portFingerprint } from './fingerprint.ts';
import type {
  AddressEntry,
  ExtraPorts,
  HostDocument,
  HostnameEntry,
  OsMatch,
  ParsedHost,
  ParsedPort,
  ParseOptions,
  PortDocument,
  ScriptDocument,
  ScriptTable,
  ScriptValue,
  ServiceDocument,
  XmlNode,
} from './types.ts';
import type { VolatileList } from './volatile.ts';

/*
 * One <host> element → ParsedHost: the checks (DTD refusal, well-formedness),
 * fast-xml-parser, our documents, fields and fingerprints. Everything here is
 * per host and pure, so it runs unchanged in the calling thread (parse.ts) and
 * in the parse threads (workers/parse-thread.ts). It does not import the
 * volatile list loader (YAML, zod): a thread receives the compiled list, and
 * starts faster without them.
 */

/** fast-xml-parser's options: the reference the fast path (xml-subset.ts) is tested against. */
export const XML_PARSER_OPTIONS = {
  ignoreAttributes: false,
  attributeNamePrefix: '',
  attributesGroupName: '$',
  htmlEntities: true,
  processEntities: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  alwaysCreateTextNode: true,
  textNodeName: '#text',
  isArray: (_name: string, _jpath: unknown, _isLeaf: boolean, isAttr: boolean) => !isAttr,
  // No jPath strings for the callbacks: building them per tag costs more than the callback.
  jPath: false,
} as const;
const xmlParser = new XMLParser(XML_PARSER_OPTIONS);

/** A fast-xml-parser node with our options: attributes under `$`, every child a list. */
export interface FxNode {
  $?: Record<string, string>;
  '#text'?: string;
  [child: string]: FxNode[] | Record<string, string> | string | undefined;
}

export const kids = (n: FxNode | undefined, name: string): FxNode[] => (n?.[name] as FxNode[] | undefined) ?? [];
const kid = (n: FxNode | undefined, name: string): FxNode | undefined => kids(n, name)[0];
const attrs = (n: FxNode | undefined): Record<string, string> => n?.$ ?? {};
const text = (n: FxNode | undefined): string => (n?.['#text'] as string | undefined) ?? '';

/** Recent conversions: the hosts of one scan share a few start and end times (cleared when full). */
const isoOfEpoch = new Map<string, string | undefined>();

export function epochToIso(v: string | undefined): string | undefined {
  if (!v) return undefined;
  if (isoOfEpoch.has(v)) return isoOfEpoch.get(v);
  let iso: string | undefined;
  if (/^\d+$/.test(v)) {
    const d = new Date(Number(v) * 1000);
    iso = Number.isNaN(d.getTime()) ? undefined : d.toISOString();
  }
  if (isoOfEpoch.size >= 4096) isoOfEpoch.clear();
  isoOfEpoch.set(v, iso);
  return iso;
}

export function countNewlines(s: string): number {
  let n = 0;
  let i = s.indexOf('\n');
  while (i >= 0) {
    n++;
    i = s.indexOf('\n', i + 1);
  }
  return n;
}

export interface Position {
  line: number;
  column: number;
}

export function positionIn(xml: string, startLine: number, offset: number): Position {
  const before = xml.slice(0, offset);
  const nl = before.lastIndexOf('\n');
  return { line: startLine + countNewlines(before), column: offset - nl };
}

// ---------------------------------------------------------------------------
// Hostile constructs

const DOCTYPE_RE = /<!DOCTYPE\b([^>[]*)(\[)?/i;

export function refuseDtd(xml: string, startLine: number, allowBareDoctype: boolean): void {
  if (!xml.includes('<!')) return;
  const idx = xml.search(/<!(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)\b/i);
  if (idx < 0) return;
  const pos = positionIn(xml, startLine, idx);
  const m = DOCTYPE_RE.exec(xml.slice(idx));
  const bare = m && !m[2] && !/\b(SYSTEM|PUBLIC)\b/i.test(m[1] ?? '');
  if (allowBareDoctype && bare && idx === xml.search(/<!DOCTYPE\b/i)) {
    // `<!DOCTYPE nmaprun>` is what nmap writes: no subset, no external id. Check the rest.
    const after = idx + m[0].length;
    refuseDtd(xml.slice(after), pos.line + countNewlines(m[0]), false);
    return;
  }
  throw new PlumError(
    'parse_error',
    `refused: the XML declares a DTD or entities at line ${pos.line}, column ${pos.column}; nmap never writes one (external entities and entity expansion are not allowed)`,
    {
      hint: 'parse the file nmap wrote with -oX, unmodified',
      details: { line: pos.line, column: pos.column, reason: 'dtd' },
    },
  );
}

export function invalidXml(msg: string, line: number, column: number): PlumError {
  return new PlumError('parse_error', `invalid XML at line ${line}, column ${column}: ${msg}`, {
    hint: 'check that this is an nmap -oX file; every complete host before this point was parsed',
    details: { line, column },
  });
}

function validateFragment(xml: string, startLine: number): void {
  const r = XMLValidator.validate(xml, { allowBooleanAttributes: false });
  if (r !== true) {
    const line = startLine + r.err.line - 1;
    throw invalidXml(r.err.msg, line, r.err.col);
  }
}

// ---------------------------------------------------------------------------
// Host element → documents

const RESERVED_SCRIPT = new Set(['id', 'output', 'elems', 'tables']);
const RESERVED_TABLE = new Set(['elems', 'tables']);

/** Keys already seen twice in a table: their value is a list of every occurrence. */
const duplicated = new WeakMap<ScriptTable, Set<string>>();

function putKeyed(target: ScriptTable, key: string, value: ScriptValue, reserved: Set<string>): void {
  const k = reserved.has(key) || key.startsWith('key:') ? `key:${key}` : key;
  const prev = target[k];
  if (prev === undefined) {
    target[k] = value;
    return;
  }
  let dups = duplicated.get(target);
  if (dups?.has(k)) {
    (prev as ScriptValue[]).push(value);
    return;
  }
  if (!dups) duplicated.set(target, (dups = new Set()));
  dups.add(k);
  target[k] = [prev, value];
}

function fillTable(target: ScriptTable, node: FxNode, reserved: Set<string>): void {
  for (const e of kids(node, 'elem')) {
    const key = attrs(e).key;
    const v = text(e);
    if (key) putKeyed(target, key, v, reserved);
    else (target.elems ??= []).push(v);
  }
  for (const t of kids(node, 'table')) {
    const sub: ScriptTable = {};
    fillTable(sub, t, RESERVED_TABLE);
    const key = attrs(t).key;
    if (key) putKeyed(target, key, sub, reserved);
    else (target.tables ??= []).push(sub);
  }
}

function scriptDoc(node: FxNode): ScriptDocument {
  const a = attrs(node);
  const doc: ScriptDocument = { id: a.id ?? '', output: a.output ?? '' };
  fillTable(doc, node, RESERVED_SCRIPT);
  return doc;
}

function genericNode(node: FxNode): XmlNode {
  const out: XmlNode = { ...attrs(node) };
  const t = text(node);
  if (t.trim() !== '') out.text = t;
  for (const [k, v] of Object.entries(node)) {
    if (k === '$' || k === '#text' || !Array.isArray(v)) continue;
    out[k in out ? `child:${k}` : k] = (v as FxNode[]).map(genericNode);
  }
  return out;
}

function portDoc(node: FxNode): PortDocument {
  const a = attrs(node);
  const st = attrs(kid(node, 'state'));
  const doc: PortDocument = {
    protocol: a.protocol ?? '',
    portid: a.portid ?? '',
    state: { ...st, state: st.state ?? 'unknown' },
    scripts: kids(node, 'script').map(scriptDoc),
  };
  const svc = kid(node, 'service');
  if (svc) {
    const s: ServiceDocument = { ...attrs(svc) };
    const cpe = kids(svc, 'cpe').map(text);
    if (cpe.length) s.cpe = cpe;
    doc.service = s;
  }
  const owner = attrs(kid(node, 'owner')).name;
  if (owner !== undefined) doc.owner = owner;
  return doc;
}

function osClass(c: FxNode): OsMatch['osclass'][number] {
  const cpe = kids(c, 'cpe').map(text);
  return cpe.length ? { ...attrs(c), cpe } : { ...attrs(c) };
}

const HANDLED_HOST_CHILDREN = new Set(['$', '#text', 'status', 'address', 'hostnames', 'ports', 'hostscript', 'os']);

function hostDoc(node: FxNode): HostDocument {
  const a = attrs(node);
  const addresses: AddressEntry[] = kids(node, 'address').map((n) => {
    const x = attrs(n);
    const e: AddressEntry = { addr: x.addr ?? '', addrtype: x.addrtype ?? '' };
    if (x.vendor !== undefined) e.vendor = x.vendor;
    return e;
  });
  const ip = addresses.find((x) => x.addrtype === 'ipv4' || x.addrtype === 'ipv6')?.addr ?? addresses[0]?.addr ?? '';
  const hostnames: HostnameEntry[] = kids(kid(node, 'hostnames'), 'hostname').map((n) => {
    const x = attrs(n);
    return { name: x.name ?? '', type: x.type ?? '' };
  });
  const st = attrs(kid(node, 'status'));
  const portsNode = kid(node, 'ports');
  const extraports: ExtraPorts[] = kids(portsNode, 'extraports').map((n) => {
    const x = attrs(n);
    return {
      state: x.state ?? '',
      count: x.count ?? '',
      reasons: kids(n, 'extrareasons').map((r) => {
        const y = attrs(r);
        return { ...y, reason: y.reason ?? '', count: y.count ?? '' };
      }),
    };
  });
  const doc: HostDocument = {
    addr: ip,
    addresses,
    hostnames,
    status: { ...st, state: st.state ?? 'unknown' },
    ports: kids(portsNode, 'port').map(portDoc),
    extraports,
    hostscripts: kids(kid(node, 'hostscript'), 'script').map(scriptDoc),
    extra: {},
  };
  if (a.starttime !== undefined) doc.starttime = a.starttime;
  if (a.endtime !== undefined) doc.endtime = a.endtime;
  if (a.timedout !== undefined) doc.timedout = a.timedout;
  const os = kid(node, 'os');
  if (os) {
    doc.os = {
      portused: kids(os, 'portused').map(attrs),
      osmatch: kids(os, 'osmatch').map((m): OsMatch => {
        const x = attrs(m);
        return {
          ...x,
          name: x.name ?? '',
          accuracy: x.accuracy ?? '',
          osclass: kids(m, 'osclass').map(osClass),
        };
      }),
      osfingerprint: kids(os, 'osfingerprint').map((f) => attrs(f).fingerprint ?? ''),
    };
    const osclass = kids(os, 'osclass').map(osClass);
    if (osclass.length) doc.os.osclass = osclass;
    for (const [k, v] of Object.entries(os)) {
      if (['$', '#text', 'portused', 'osmatch', 'osclass', 'osfingerprint'].includes(k) || !Array.isArray(v)) continue;
      (doc.os.extra ??= {})[k] = (v as FxNode[]).map(genericNode);
    }
  }
  for (const [k, v] of Object.entries(node)) {
    if (HANDLED_HOST_CHILDREN.has(k) || !Array.isArray(v)) continue;
    doc.extra[k] = (v as FxNode[]).map(genericNode);
  }
  return doc;
}

function statusOf(s: string): 'up' | 'down' | 'unknown' {
  return s === 'up' || s === 'down' ? s : 'unknown';
}

/**
 * Most ports one host may report; the rest are dropped and counted
 * (`portsOmitted`). A host listing thousands of ports is almost always a
 * tarpit or a middlebox answering on every port, not thousands of services,
 * and every stored port costs memory through ingest, tagging and scoring
 * (a host of tens of thousands of ports took `plum ingest` to gigabytes;
 * bench/ingest.ts measures it).
 */
export const MAX_PORTS_PER_HOST = 8192;

/** A node's host document, with only its open ports when `openOnly`: the parse's, and a rebuild's on demand. */
function hostDocOf(node: FxNode, openOnly: boolean | undefined): HostDocument {
  const doc = hostDoc(node);
  if (openOnly) doc.ports = doc.ports.filter((p) => p.state.state === 'open');
  if (doc.ports.length > MAX_PORTS_PER_HOST) {
    doc.portsOmitted = doc.ports.length - MAX_PORTS_PER_HOST;
    doc.ports.length = MAX_PORTS_PER_HOST;
  }
  return doc;
}

/**
 * Builds a ParsedHost (documents, fields, fingerprints) from one <host> element.
 * `xml` and `line` (the element's text and first line) are kept instead of the
 * documents when `opts.documentsOnDemand`.
 */
export function buildHost(node: FxNode, opts: ParseOptions, volatile: VolatileList, xml?: string, line = 1): ParsedHost {
  const doc = hostDocOf(node, opts.openOnly);
  const fpVersion = fingerprintVersion(volatile);
  const onDemand = opts.documentsOnDemand === true && xml !== undefined ? new DocumentsOnDemand(xml, line, opts.openOnly === true) : undefined;
  const fieldsOnDemand = onDemand !== undefined && opts.fieldsOnDemand === true;
  const ports: ParsedPort[] = doc.ports.map((p, i) => {
    const hsh256 = portFingerprint(p, volatile);
    const port = Number(p.portid);
    return onDemand
      ? new PortWithDocumentOnDemand(
          doc.addr,
          p.protocol,
          port,
          p.state.state,
          hsh256,
          fpVersion,
          fieldsOnDemand ? undefined : extractFields(doc, p),
          onDemand,
          i,
        )
      : { ip: doc.addr, protocol: p.protocol, port, state: p.state.state, hsh256, fpVersion, fields: extractFields(doc, p), doc: p };
  });
  const host: ParsedHost = {
    ip: doc.addr,
    status: statusOf(doc.status.state),
    statusReason: doc.status.reason ?? '',
    extraPorts: doc.extraports.map((x) => ({ state: x.state, reasons: x.reasons.map((r) => r.reason) })),
    startedAt: epochToIso(doc.starttime),
    endedAt: epochToIso(doc.endtime),
    addresses: doc.addresses,
    hostnames: doc.hostnames,
    // A cut host is like one nmap gave up on: its ports past the cut are unknown, never "gone".
    timedOut: doc.timedout === 'true' || doc.portsOmitted !== undefined,
    ...(doc.portsOmitted !== undefined ? { portsOmitted: doc.portsOmitted } : {}),
    hsh256: hostFingerprint(
      doc,
      volatile,
      ports.map((p) => p.hsh256),
    ),
    fpVersion,
    doc,
    ports,
  };
  if (!onDemand) return host;
  // Everything but the document (this literal then dies young).
  const { doc: _dropped, ...facts } = host;
  return new HostWithDocumentOnDemand(facts, onDemand);
}

/**
 * A host's documents, dropped once fingerprinted and rebuilt from its XML text
 * on first use. Why: a consumer holding a batch of hosts (ingest: 500 per
 * transaction) kept every document alive across several young-generation
 * collections, so they were copied into the old generation for nothing — a
 * stable ingest pass reads no document at all (bench/ingest.ts's stable pass
 * promotes far less with documents and fields built on demand). The text is a slice of
 * the chunk it came in (a fraction of the documents' size). Rebuilding is the
 * same pure function of the same text, so it gives the documents the
 * fingerprints were computed from.
 */
class DocumentsOnDemand {
  /** The element's text until the rebuild, then the rebuilt document. */
  #kept: { xml: string; line: number } | HostDocument;
  readonly #openOnly: boolean;
  constructor(xml: string, line: number, openOnly: boolean) {
    this.#kept = { xml, line };
    this.#openOnly = openOnly;
  }

  host(): HostDocument {
    const k = this.#kept;
    if ('xml' in k) this.#kept = hostDocOf(parseHostElement(k.xml, k.line), this.#openOnly);
    return this.#kept as HostDocument;
  }
}

// Gives the class below the host's other properties, which its constructor copies.
interface HostWithDocumentOnDemand extends Omit<ParsedHost, 'doc'> {}
/** A ParsedHost whose `doc` is rebuilt on first read (a getter, like its ports'). */
class HostWithDocumentOnDemand {
  readonly #documents: DocumentsOnDemand;
  constructor(facts: Omit<ParsedHost, 'doc'>, documents: DocumentsOnDemand) {
    Object.assign(this, facts);
    this.#documents = documents;
  }

  get doc(): HostDocument {
    return this.#documents.host();
  }
}

/**
 * A ParsedPort whose `doc` is rebuilt on first read, and its `fields` too when
 * they were left on demand (getters: absent from JSON.stringify and spreads).
 */
class PortWithDocumentOnDemand implements ParsedPort {
  readonly #documents: DocumentsOnDemand;
  readonly #index: number;
  #fields: SearchFields | undefined;
  constructor(
    readonly ip: string,
    readonly protocol: string,
    readonly port: number,
    readonly state: string,
    readonly hsh256: string,
    readonly fpVersion: number,
    fields: SearchFields | undefined,
    documents: DocumentsOnDemand,
    index: number,
  ) {
    this.#fields = fields;
    this.#documents = documents;
    this.#index = index;
  }

  get doc(): PortDocument {
    return this.#documents.host().ports[this.#index]!;
  }

  get fields(): SearchFields {
    return (this.#fields ??= extractFields(this.#documents.host(), this.doc));
  }
}

/**
 * One host element's node: refuses DTDs, then the fast path (xml-subset.ts:
 * checks and builds in one pass) or, outside its subset, XMLValidator (a
 * positioned error) and fast-xml-parser. Errors carry the file position.
 */
export function parseHostElement(xml: string, line: number): FxNode {
  // The fast path accepts no `<!` at all (it steps aside on any declaration), so
  // the DTD check, a scan of the whole element, is needed only after it declines.
  const fast = parseXmlSubset(xml);
  if (fast !== undefined) return fast;
  refuseDtd(xml, line, false);
  validateFragment(xml, line);
  const nodes = (xmlParser.parse(xml) as { host?: FxNode[] }).host;
  if (nodes?.length !== 1) throw new PlumError('internal', `parsed ${nodes?.length ?? 0} host elements out of 1`);
  return nodes[0]!;
}

// ---------------------------------------------------------------------------
// Batches of host elements

/** Host elements per batch, by size (one message to a parse thread, one step in-thread). */
export const BATCH_BYTES = 64 * 1024;

/** What one batch gave: the items of its valid hosts, in order, and what stopped it. */
export interface BatchResult<T> {
  items: T[];
  /** The first host element that failed its checks (DTD, invalid XML): hosts after it were not parsed. */
  error?: unknown;
  /** What the parser or the builder threw (not a verdict on the input): rethrown as is, after `items`. */
  thrown?: unknown;
}

/**
 * Checks, parses and builds one batch of host elements, one item at a time;
 * returns the check error, if any: the hosts before the first bad element are
 * yielded, the ones after it are not parsed. Pure: the same batch gives the
 * same items on any thread. In-thread, items are built only as the consumer
 * asks for them, so each host dies young (building a whole batch first
 * raised peak memory: the hosts survived into the old generation).
 */
export function* hostBatchItems<T>(
  xmls: readonly string[],
  lines: readonly number[],
  build: (node: FxNode, xml: string, line: number) => T | undefined,
): Generator<T, unknown> {
  for (let i = 0; i < xmls.length; i++) {
    let node: FxNode;
    try {
      node = parseHostElement(xmls[i]!, lines[i]!);
    } catch (e) {
      if (e instanceof PlumError && e.code === 'parse_error') return e;
      throw e;
    }
    const item = build(node, xmls[i]!, lines[i]!);
    if (item !== undefined) yield item;
  }
  return undefined;
}

/** hostBatchItems, all at once (for a batch parsed on a thread, or ahead of its turn). */
export function runHostBatch<T>(
  xmls: readonly string[],
  lines: readonly number[],
  build: (node: FxNode, xml: string, line: number) => T | undefined,
): BatchResult<T> {
  const items: T[] = [];
  const it = hostBatchItems(xmls, lines, build);
  try {
    for (let r = it.next(); ; r = it.next()) {
      if (r.done) return r.value === undefined ? { items } : { items, error: r.value };
      items.push(r.value);
    }
  } catch (e) {
    return { items, thrown: e };
  }
}

/** A ParsedHost from one host node, or undefined when `openOnly` drops it. */
export function buildParsedHost(node: FxNode, opts: ParseOptions, volatile: VolatileList, xml?: string, line?: number): ParsedHost | undefined {
  const host = buildHost(node, opts, volatile, xml, line);
  if (opts.openOnly && !host.ports.some((p) => p.state === 'open')) return undefined;
  return host;
}
