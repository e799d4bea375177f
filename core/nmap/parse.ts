import { createReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { PlumError } from '../errors.ts';
import { extractFields } from './fields.ts';
import { fingerprintVersion, hostFingerprint, portFingerprint } from './fingerprint.ts';
import type {
  AddressEntry, ExtraPorts, HostDocument, HostnameEntry, NmapRunInfo, OsMatch, ParsedHost, ParsedPort,
  ParsedScan, ParseOptions, PortDocument, ScriptDocument, ScriptTable, ScriptValue, ServiceDocument, XmlNode,
} from './types.ts';
import { defaultVolatileList, type VolatileList } from './volatile.ts';

/*
 * nmap XML → our documents, host by host.
 *
 * The input is split on <host>…</host> elements with a plain text scanner (nmap
 * never nests hosts and escapes '<' in attribute values), and each host element
 * is validated and parsed on its own with fast-xml-parser. Memory therefore
 * stays bounded by the largest host, whatever the file size. Text between hosts
 * (the prolog, <taskprogress>, <runstats>) is scanned for the run information.
 *
 * Hostile input: any DTD other than nmap's bare `<!DOCTYPE nmaprun>` is refused
 * before the XML parser sees it, so no external entity is ever resolved and no
 * entity can expand (only the predefined, numeric and HTML entities exist).
 */

export const PARSER_VERSION = 1;

const DEFAULT_MAX_HOST_BYTES = 64 * 1024 * 1024;
/** Text between hosts is flushed once it grows past this (bounded memory). */
const INTERSTITIAL_FLUSH = 1024 * 1024;

const xmlParser = new XMLParser({
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
});

/** A fast-xml-parser node with our options: attributes under `$`, every child a list. */
interface FxNode {
  $?: Record<string, string>;
  '#text'?: string;
  [child: string]: FxNode[] | Record<string, string> | string | undefined;
}

const kids = (n: FxNode | undefined, name: string): FxNode[] => (n?.[name] as FxNode[] | undefined) ?? [];
const kid = (n: FxNode | undefined, name: string): FxNode | undefined => kids(n, name)[0];
const attrs = (n: FxNode | undefined): Record<string, string> => n?.$ ?? {};
const text = (n: FxNode | undefined): string => (n?.['#text'] as string | undefined) ?? '';

function epochToIso(v: string | undefined): string | undefined {
  if (!v || !/^\d+$/.test(v)) return undefined;
  const d = new Date(Number(v) * 1000);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

// ---------------------------------------------------------------------------
// Splitting the input into host elements

interface Position { line: number; column: number }

type Piece =
  | { kind: 'host'; xml: string; line: number }
  | { kind: 'between'; xml: string; line: number };

/**
 * Incremental splitter: push text, get complete host elements and the text
 * between them. Tracks line numbers so errors can point into the file.
 */
class HostSplitter {
  private buf = '';
  /** Line number of buf[0] (1-based). */
  private bufLine = 1;
  private inHost = false;
  private searchFrom = 0;
  private readonly hostStart = /<host[\s>/]/g;
  constructor(private readonly maxHostBytes: number) {}

  push(chunk: string): Piece[] {
    this.buf += chunk;
    return this.drain(false);
  }

  /** Whatever is left when the input ends. */
  end(): { pieces: Piece[]; partialHost?: { line: number; bytes: number } } {
    const pieces = this.drain(true);
    if (this.inHost) return { pieces, partialHost: { line: this.bufLine, bytes: this.buf.length } };
    return { pieces };
  }

  private drain(final: boolean): Piece[] {
    const out: Piece[] = [];
    let pos = 0;
    let line = this.bufLine;
    const buf = this.buf;
    for (;;) {
      if (this.inHost) {
        const idx = buf.indexOf('</host>', Math.max(pos, this.searchFrom));
        if (idx < 0) {
          if (buf.length - pos > this.maxHostBytes) {
            throw new PlumError('parse_error', `a <host> element starting at line ${line} is larger than ${this.maxHostBytes} bytes`, {
              hint: 'this is not a file nmap writes; check the input, or raise maxHostBytes if it is genuine',
              details: { line, column: 1, reason: 'size' },
            });
          }
          this.searchFrom = Math.max(pos, buf.length - 7);
          break;
        }
        const end = idx + 7;
        if (end - pos > this.maxHostBytes) {
          throw new PlumError('parse_error', `a <host> element starting at line ${line} is larger than ${this.maxHostBytes} bytes`, {
            hint: 'this is not a file nmap writes; check the input, or raise maxHostBytes if it is genuine',
            details: { line, column: 1, reason: 'size' },
          });
        }
        const xml = buf.slice(pos, end);
        out.push({ kind: 'host', xml, line });
        line += countNewlines(xml);
        pos = end;
        this.inHost = false;
        this.searchFrom = 0;
      } else {
        this.hostStart.lastIndex = pos;
        const m = this.hostStart.exec(buf);
        if (!m) {
          // Keep a possible partial "<host" at the end; flush long stretches of other text.
          const keep = final ? buf.length : Math.max(pos, buf.length - 6);
          if (final || keep - pos > INTERSTITIAL_FLUSH) {
            const cut = final ? keep : buf.lastIndexOf('>', keep - 1) + 1;
            if (cut > pos) {
              const xml = buf.slice(pos, cut);
              out.push({ kind: 'between', xml, line });
              line += countNewlines(xml);
              pos = cut;
            }
          }
          break;
        }
        if (m.index > pos) {
          const xml = buf.slice(pos, m.index);
          out.push({ kind: 'between', xml, line });
          line += countNewlines(xml);
        }
        pos = m.index;
        this.inHost = true;
        this.searchFrom = pos;
      }
    }
    this.buf = buf.slice(pos);
    this.searchFrom = Math.max(0, this.searchFrom - pos);
    this.bufLine = line;
    return out;
  }
}

function countNewlines(s: string): number {
  let n = 0;
  let i = s.indexOf('\n');
  while (i >= 0) {
    n++;
    i = s.indexOf('\n', i + 1);
  }
  return n;
}

function positionIn(xml: string, startLine: number, offset: number): Position {
  const before = xml.slice(0, offset);
  const nl = before.lastIndexOf('\n');
  return { line: startLine + countNewlines(before), column: offset - nl };
}

// ---------------------------------------------------------------------------
// Hostile constructs

const DOCTYPE_RE = /<!DOCTYPE\b([^>[]*)(\[)?/i;

function refuseDtd(xml: string, startLine: number, allowBareDoctype: boolean): void {
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
  throw new PlumError('parse_error', `refused: the XML declares a DTD or entities at line ${pos.line}, column ${pos.column}; nmap never writes one (external entities and entity expansion are not allowed)`, {
    hint: 'parse the file nmap wrote with -oX, unmodified',
    details: { line: pos.line, column: pos.column, reason: 'dtd' },
  });
}

function invalidXml(msg: string, line: number, column: number): PlumError {
  return new PlumError('parse_error', `invalid XML at line ${line}, column ${column}: ${msg}`, {
    hint: 'check that this is an nmap -oX file; every complete host before this point was parsed',
    details: { line, column },
  });
}

const isWs = (c: number): boolean => c === 32 || c === 10 || c === 9 || c === 13;
/** [A-Za-z_]: a subset of the XML (and XMLValidator) name start characters. */
const isNameStart = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
/** [A-Za-z0-9_.-]: a subset of the XML name characters. */
const isNameChar = (c: number): boolean => isNameStart(c) || (c >= 48 && c <= 57) || c === 45 || c === 46;
/** After a '&' in text: what XMLValidator accepts as a reference (stricter: at least one digit). */
const ENTITY_REF = /(?:\w{1,20}|#\d+|#x[0-9a-fA-F]+);/y;

/**
 * A fast, conservative well-formedness check of one element: true only for
 * text that XMLValidator accepts too (a strict subset: plain tags, quoted
 * attributes without duplicates, balanced and matching end tags, valid
 * references in text, one root). Anything else — comments, CDATA, PIs, unusual
 * names or spacing, real errors — returns false, and the validator then decides
 * (and gives the positioned error).
 */
export function quickWellFormed(xml: string): boolean {
  const n = xml.length;
  const stack: string[] = [];
  let i = 0;
  let rootClosed = false;
  let amp = -2; // next '&' at or after some position (-1: none left); -2: not searched yet
  while (i < n) {
    if (rootClosed || xml.charCodeAt(i) !== 60 /* < */) return false;
    let c = xml.charCodeAt(i + 1);
    if (c === 47 /* / */) {
      const gt = xml.indexOf('>', i + 2);
      if (gt < 0 || stack.length === 0 || stack.pop() !== xml.slice(i + 2, gt)) return false;
      if (stack.length === 0) rootClosed = true;
      i = gt + 1;
    } else {
      if (!isNameStart(c)) return false;
      let j = i + 2;
      while (isNameChar(xml.charCodeAt(j))) j++;
      const name = xml.slice(i + 1, j);
      let attrNames: string[] | undefined;
      for (;;) {
        c = xml.charCodeAt(j);
        if (c === 62 /* > */) {
          stack.push(name);
          j++;
          break;
        }
        if (c === 47 /* / */) {
          if (xml.charCodeAt(j + 1) !== 62) return false;
          if (stack.length === 0) rootClosed = true;
          j += 2;
          break;
        }
        if (!isWs(c)) return false;
        while (isWs(xml.charCodeAt(j))) j++;
        c = xml.charCodeAt(j);
        if (c === 62 || c === 47) continue;
        if (!isNameStart(c)) return false;
        const ns = j++;
        while (isNameChar(xml.charCodeAt(j))) j++;
        const an = xml.slice(ns, j);
        while (isWs(xml.charCodeAt(j))) j++;
        if (xml.charCodeAt(j) !== 61 /* = */) return false;
        j++;
        while (isWs(xml.charCodeAt(j))) j++;
        const q = xml.charCodeAt(j);
        if (q !== 34 && q !== 39) return false;
        const close = xml.indexOf(q === 34 ? '"' : "'", j + 1);
        if (close < 0) return false;
        j = close + 1;
        if (attrNames === undefined) attrNames = [an];
        else if (attrNames.includes(an)) return false;
        else attrNames.push(an);
      }
      i = j;
    }
    // Text up to the next tag.
    const lt = xml.indexOf('<', i);
    const end = lt < 0 ? n : lt;
    if (rootClosed) {
      for (let k = i; k < end; k++) if (!isWs(xml.charCodeAt(k))) return false;
    } else {
      if (amp !== -1 && amp < i) amp = xml.indexOf('&', i);
      while (amp >= 0 && amp < end) {
        ENTITY_REF.lastIndex = amp + 1;
        if (!ENTITY_REF.test(xml)) return false;
        amp = xml.indexOf('&', ENTITY_REF.lastIndex);
      }
    }
    i = end;
  }
  return rootClosed;
}

function validateFragment(xml: string, startLine: number): void {
  if (quickWellFormed(xml)) return;
  const r = XMLValidator.validate(xml, { allowBooleanAttributes: false });
  if (r !== true) {
    const line = startLine + r.err.line - 1;
    throw invalidXml(r.err.msg, line, r.err.col);
  }
}

// ---------------------------------------------------------------------------
// Run information (text between hosts)

function emptyRun(): NmapRunInfo {
  return { scanner: '', version: '', args: '', finished: false, scanInfo: [] };
}

const TAG_RE = /<(nmaprun|scaninfo|finished|hosts)\b([^>]*)>/g;
const ATTR_RE = /([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-f]+|#\d+|lt|gt|amp|quot|apos);/gi, (all, e: string) => {
    const l = e.toLowerCase();
    if (l === 'lt') return '<';
    if (l === 'gt') return '>';
    if (l === 'amp') return '&';
    if (l === 'quot') return '"';
    if (l === 'apos') return "'";
    const cp = l.startsWith('#x') ? parseInt(l.slice(2), 16) : parseInt(l.slice(1), 10);
    return Number.isFinite(cp) && cp <= 0x10ffff ? String.fromCodePoint(cp) : all;
  });
}

function tagAttrs(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  ATTR_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = ATTR_RE.exec(s))) out[m[1]!] = decodeEntities(m[2] ?? m[3] ?? '');
  return out;
}

interface RunState { run: NmapRunInfo; sawRoot: boolean; sawEnd: boolean }

function scanBetween(piece: string, line: number, st: RunState, first: boolean): void {
  refuseDtd(piece, line, first);
  TAG_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = TAG_RE.exec(piece))) {
    const a = tagAttrs(m[2]!);
    switch (m[1]) {
      case 'nmaprun':
        st.sawRoot = true;
        st.run.scanner = a.scanner ?? '';
        st.run.version = a.version ?? '';
        st.run.args = a.args ?? '';
        st.run.startedAt = epochToIso(a.start);
        break;
      case 'scaninfo':
        st.run.scanInfo.push({ type: a.type ?? '', protocol: a.protocol ?? '', services: a.services ?? '', numservices: a.numservices });
        break;
      case 'finished':
        st.run.finished = true;
        st.run.endedAt = epochToIso(a.time);
        if (a.exit) st.run.exit = a.exit;
        if (a.errormsg) st.run.errorMessage = a.errormsg;
        break;
      case 'hosts':
        if (a.up !== undefined) st.run.hostsUp = Number(a.up);
        if (a.down !== undefined) st.run.hostsDown = Number(a.down);
        break;
    }
  }
  if (piece.includes('</nmaprun>')) st.sawEnd = true;
  if (!first) checkBetween(piece, line);
}

/** Text between hosts must itself be well-formed (a sequence of complete elements). */
function checkBetween(piece: string, line: number): void {
  let body = piece;
  const close = body.lastIndexOf('</nmaprun>');
  if (close >= 0) {
    const tail = body.slice(close + 10);
    if (tail.trim() !== '') {
      const pos = positionIn(piece, line, close + 10 + tail.search(/\S/));
      throw invalidXml('content after the end of the document', pos.line, pos.column);
    }
    body = body.slice(0, close);
  }
  // Text outside any element (tags only are allowed between hosts).
  for (let i = 0; i < body.length; ) {
    const c = body.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      i++;
      continue;
    }
    if (c === 0x3c) {
      const gt = body.indexOf('>', i);
      if (gt < 0) break; // unfinished tag: the validator below reports it
      i = gt + 1;
      continue;
    }
    const pos = positionIn(piece, line, i);
    throw invalidXml('text outside any element', pos.line, pos.column);
  }
  const r = XMLValidator.validate(`<x>${body}</x>`);
  if (r !== true) {
    const col = r.err.line === 1 ? Math.max(1, r.err.col - 3) : r.err.col;
    throw invalidXml(r.err.msg, line + r.err.line - 1, col);
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

/** Builds a ParsedHost (documents, fields, fingerprints) from one <host> element. */
export function buildHost(node: FxNode, opts: ParseOptions, volatile: VolatileList): ParsedHost {
  const doc = hostDoc(node);
  if (opts.openOnly) doc.ports = doc.ports.filter((p) => p.state.state === 'open');
  const ports: ParsedPort[] = doc.ports.map((p) => ({
    ip: doc.addr,
    protocol: p.protocol,
    port: Number(p.portid),
    state: p.state.state,
    hsh256: portFingerprint(p, volatile),
    fpVersion: fingerprintVersion(volatile),
    fields: extractFields(doc, p),
    doc: p,
  }));
  return {
    ip: doc.addr,
    status: statusOf(doc.status.state),
    statusReason: doc.status.reason ?? '',
    startedAt: epochToIso(doc.starttime),
    endedAt: epochToIso(doc.endtime),
    addresses: doc.addresses,
    hostnames: doc.hostnames,
    timedOut: doc.timedout === 'true',
    hsh256: hostFingerprint(doc, volatile, ports.map((p) => p.hsh256)),
    fpVersion: fingerprintVersion(volatile),
    doc,
    ports,
  };
}

/** Parses and validates one host element (with its line in the file). */
/** Refuses DTDs and checks well-formedness of one host element (errors carry the file position). */
export function checkHostElement(xml: string, line: number): void {
  refuseDtd(xml, line, false);
  validateFragment(xml, line);
}

/** Hosts parsed per XML parser call, by size. */
const BATCH_BYTES = 64 * 1024;

/** Parses already-checked host elements in one call. */
function* parseHostBatch(xmls: string[]): Generator<FxNode> {
  if (xmls.length === 0) return;
  const parsed = xmlParser.parse(xmls.length === 1 ? xmls[0]! : `<batch>${xmls.join('')}</batch>`) as { host?: FxNode[]; batch?: FxNode[] };
  const nodes = xmls.length === 1 ? parsed.host : kids(parsed.batch?.[0], 'host');
  if (!nodes || nodes.length !== xmls.length) throw new PlumError('internal', `parsed ${nodes?.length ?? 0} hosts out of ${xmls.length}`);
  yield* nodes;
}

// ---------------------------------------------------------------------------
// Public API

/** Hosts of one scan as they are parsed; `run` fills in as the input is read, `error` is set at the end. */
export interface NmapHostStream extends AsyncIterable<ParsedHost> {
  readonly run: NmapRunInfo;
  /** Truncation or invalid XML after the valid hosts; set once iteration has ended. */
  readonly error?: PlumError;
}

type Input = NodeJS.ReadableStream | AsyncIterable<Buffer | string> | Iterable<Buffer | string>;

/**
 * Turns text chunks into raw host nodes. Throws PlumError for hostile input
 * and for input that is not nmap XML at all; reports truncation or invalid
 * XML after some hosts through `onError`, having yielded every complete host.
 */
class HostReader {
  private readonly splitter: HostSplitter;
  private first = true;
  private sawHost = false;
  /** "<nmaprun" seen but not its whole start tag (a file cut in its prolog). */
  private sawRootStart = false;
  private stopped = false;
  constructor(
    readonly st: RunState,
    private readonly onError: (e: PlumError) => void,
    maxHostBytes = DEFAULT_MAX_HOST_BYTES,
  ) {
    this.splitter = new HostSplitter(maxHostBytes);
  }

  get done(): boolean {
    return this.stopped;
  }

  *feed(chunk: string): Generator<FxNode> {
    if (this.stopped) return;
    yield* this.guard(() => this.splitter.push(chunk));
  }

  *finish(): Generator<FxNode> {
    if (this.stopped) return;
    let partial: { line: number } | undefined;
    yield* this.guard(() => {
      const end = this.splitter.end();
      partial = end.partialHost;
      return end.pieces;
    });
    if (this.stopped) return;
    this.stopped = true;
    if (!this.st.sawRoot && this.sawRootStart) {
      this.onError(new PlumError('truncated', 'the nmap XML is truncated in its header, before any host', {
        hint: 'nmap was probably killed while writing; rescan',
        details: { line: 1, column: 1 },
      }));
      return;
    }
    if (!this.st.sawRoot) {
      throw new PlumError('parse_error', 'this is not nmap XML: the input is empty or has no <nmaprun> element', {
        hint: 'give the file nmap wrote with -oX',
        details: { line: 1, column: 1 },
      });
    }
    if (partial || !this.st.sawEnd) {
      const where = partial ? ` inside the <host> element that starts at line ${partial.line}` : '';
      this.onError(new PlumError('truncated', `the nmap XML is truncated${where}: the file ends before </nmaprun>`, {
        hint: 'nmap was probably killed while writing; every complete host was kept, rescan to get the rest',
        details: partial ? { line: partial.line, column: 1 } : {},
      }));
    }
  }

  private *guard(pieces: () => Piece[]): Generator<FxNode> {
    // Valid host elements are parsed together (one XML parser call per batch):
    // the parser's fixed cost per call dominates small hosts.
    const batch: string[] = [];
    let batchBytes = 0;
    try {
      for (const p of pieces()) {
        const xml = this.piece(p);
        if (xml === undefined) continue;
        batch.push(xml);
        batchBytes += xml.length;
        if (batchBytes >= BATCH_BYTES) {
          yield* parseHostBatch(batch);
          batch.length = 0;
          batchBytes = 0;
        }
      }
      yield* parseHostBatch(batch);
    } catch (e) {
      // Invalid XML after a valid start keeps what came before; hostile input never does.
      if (e instanceof PlumError && e.code === 'parse_error' && e.details?.reason !== 'dtd' && e.details?.reason !== 'size' && this.st.sawRoot) {
        yield* parseHostBatch(batch);
        this.stopped = true;
        this.onError(e);
        return;
      }
      throw e;
    }
  }

  /** Checks one piece; returns the text of a valid host element. */
  private piece(p: Piece): string | undefined {
    if (p.kind === 'between') {
      scanBetween(p.xml, p.line, this.st, this.first);
      if (!this.st.sawRoot && /<nmaprun\b/.test(p.xml)) this.sawRootStart = true;
      if (this.first && !this.st.sawRoot && !this.sawRootStart && /<\w/.test(p.xml)) {
        throw new PlumError('parse_error', 'this is not nmap XML: no <nmaprun> element at the start', {
          hint: 'give the file nmap wrote with -oX',
          details: { line: p.line, column: 1 },
        });
      }
      if (this.st.sawRoot) this.first = false;
      return undefined;
    }
    if (!this.st.sawRoot) {
      throw new PlumError('parse_error', 'this is not nmap XML: <host> before any <nmaprun> element', {
        hint: 'give the file nmap wrote with -oX',
        details: { line: p.line, column: 1 },
      });
    }
    this.first = false;
    this.sawHost = true;
    checkHostElement(p.xml, p.line);
    return p.xml;
  }
}

/** Raw host nodes from any chunked input (used by the compat converter too). */
export async function* iterateHostNodes(input: Input, reader: HostReader): AsyncGenerator<FxNode> {
  const decoder = new StringDecoder('utf8');
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const s = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    if (s) yield* reader.feed(s);
    if (reader.done) return;
  }
  const rest = decoder.end();
  if (rest) yield* reader.feed(rest);
  yield* reader.finish();
}

/** Raw host nodes from a string. */
export function* iterateHostNodesSync(xml: string, reader: HostReader): Generator<FxNode> {
  yield* reader.feed(xml);
  yield* reader.finish();
}

export const newRunState = (): RunState => ({ run: emptyRun(), sawRoot: false, sawEnd: false });
export { HostReader };

/**
 * Streams hosts from nmap XML with bounded memory. Hostile input (DTDs,
 * entities) and input that is not nmap XML at all throw a PlumError; a file
 * that is truncated or becomes invalid after some hosts yields those hosts and
 * then sets `error`.
 */
export function parseNmapStream(input: Input, opts: ParseOptions = {}): NmapHostStream {
  const st = newRunState();
  const volatile = opts.volatile ?? defaultVolatileList();
  let error: PlumError | undefined;
  const stream: NmapHostStream = {
    get run() {
      return st.run;
    },
    get error() {
      return error;
    },
    async *[Symbol.asyncIterator]() {
      const reader = new HostReader(st, (e) => (error = e), opts.maxHostBytes);
      for await (const node of iterateHostNodes(input, reader)) {
        const host = buildHost(node, opts, volatile);
        if (opts.openOnly && !host.ports.some((p) => p.state === 'open')) continue;
        yield host;
      }
    },
  };
  return stream;
}

async function collect(stream: NmapHostStream): Promise<ParsedScan> {
  const hosts: ParsedHost[] = [];
  for await (const h of stream) hosts.push(h);
  return stream.error ? { run: stream.run, hosts, error: stream.error } : { run: stream.run, hosts };
}

/** Parses a whole nmap XML string (synchronous; all hosts in memory). */
export function parseNmapString(xml: string, opts: ParseOptions = {}): ParsedScan {
  const st = newRunState();
  const volatile = opts.volatile ?? defaultVolatileList();
  let error: PlumError | undefined;
  const hosts: ParsedHost[] = [];
  const reader = new HostReader(st, (e) => (error = e), opts.maxHostBytes);
  for (const node of iterateHostNodesSync(xml, reader)) {
    const host = buildHost(node, opts, volatile);
    if (opts.openOnly && !host.ports.some((p) => p.state === 'open')) continue;
    hosts.push(host);
  }
  return error ? { run: st.run, hosts, error } : { run: st.run, hosts };
}

/** Parses an nmap XML file, streaming (all hosts are returned in memory). */
export async function parseNmapFile(path: string, opts: ParseOptions = {}): Promise<ParsedScan> {
  return collect(parseNmapStream(openXmlFile(path), { source: path, ...opts }));
}

/** A read stream with a clear error when the file cannot be opened. */
export function openXmlFile(path: string): AsyncIterable<Buffer> {
  const stream = createReadStream(path, { highWaterMark: 64 * 1024 });
  return {
    async *[Symbol.asyncIterator]() {
      try {
        for await (const chunk of stream) yield chunk as Buffer;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') throw new PlumError('not_found', `no such file: ${path}`, { hint: 'check the path', cause: e });
        if (code === 'EISDIR') throw new PlumError('invalid_input', `${path} is a directory`, { hint: 'give an nmap XML file', cause: e });
        if (code === 'EACCES') throw new PlumError('invalid_input', `cannot read ${path}: permission denied`, { hint: 'check the file permissions', cause: e });
        throw e;
      }
    },
  };
}

export type { RunState, FxNode };
