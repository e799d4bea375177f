import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { StringDecoder } from 'node:string_decoder';
import { XMLValidator } from 'fast-xml-parser';
import { PlumError } from '../errors.ts';
import {
  BATCH_BYTES as HOST_BATCH_BYTES,
  buildParsedHost,
  countNewlines,
  epochToIso,
  hostBatchItems,
  invalidXml,
  positionIn,
  refuseDtd,
  type BatchResult,
  type FxNode,
} from './host.ts';
import { ParsePool, PoolFailure } from './parse-pool.ts';
import type { NmapRunInfo, ParsedHost, ParsedScan, ParseOptions } from './types.ts';
import { defaultVolatileList, type VolatileList } from './volatile.ts';

export { BATCH_BYTES, buildHost, buildParsedHost, hostBatchItems, parseHostElement, runHostBatch, type BatchResult } from './host.ts';

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
/** Longest attribute value or text in a host: nmap's largest script outputs are a few MB. */
const MAX_VALUE_CHARS = 16 * 1024 * 1024;

function hostTooLarge(line: number, max: number): PlumError {
  return new PlumError('parse_error', `a <host> element starting at line ${line} is larger than ${max} bytes`, {
    hint: 'this is not a file nmap writes; check the input, or raise maxHostBytes if it is genuine',
    details: { line, column: 1, reason: 'size' },
  });
}
/** Text between hosts is flushed once it grows past this (bounded memory). */
const INTERSTITIAL_FLUSH = 1024 * 1024;

// ---------------------------------------------------------------------------
// Splitting the input into host elements

type Piece = { kind: 'host'; xml: string; line: number } | { kind: 'between'; xml: string; line: number };

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

  /**
   * Text of an unfinished host read after `buf`, kept as parts: appending to
   * one string and searching it again at each chunk copied the whole host
   * every time (quadratic: a value of a hundred megabytes took minutes to refuse).
   */
  private pending: string[] = [];
  private pendingChars = 0;
  /** The last characters of the unfinished host (a '</host>' split between chunks). */
  private tail = '';
  /** Characters since the last '<': the value (attribute or text) being read. */
  private valueChars = 0;

  push(chunk: string): Piece[] {
    if (this.inHost) {
      const probe = (this.pending.length ? this.tail : this.buf.slice(-6)) + chunk;
      if (!probe.includes('</host>')) {
        this.pendingChars += chunk.length;
        const lt = chunk.lastIndexOf('<');
        this.valueChars = lt < 0 ? this.valueChars + chunk.length : chunk.length - lt - 1;
        if (this.buf.length + this.pendingChars > this.maxHostBytes) throw hostTooLarge(this.bufLine, this.maxHostBytes);
        if (this.valueChars > MAX_VALUE_CHARS) {
          throw new PlumError('parse_error', `a value in the <host> element starting at line ${this.bufLine} is longer than ${MAX_VALUE_CHARS} characters`, {
            hint: 'this is not a file nmap writes; check the input',
            details: { line: this.bufLine, column: 1, reason: 'size' },
          });
        }
        this.pending.push(chunk);
        this.tail = probe.slice(-6);
        return [];
      }
      if (this.pending.length) {
        this.buf += this.pending.join('');
        this.pending = [];
        this.pendingChars = 0;
      }
    }
    this.valueChars = 0;
    this.buf += chunk;
    return this.drain(false);
  }

  /** Whatever is left when the input ends. */
  end(): { pieces: Piece[]; partialHost?: { line: number; bytes: number } } {
    if (this.pending.length) {
      this.buf += this.pending.join('');
      this.pending = [];
      this.pendingChars = 0;
    }
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
          throw hostTooLarge(line, this.maxHostBytes);
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
          // Keep a possible partial "<host" at the end. Text without a tag start is flushed at once (a long
          // blank stretch kept and searched again at every chunk was quadratic, and grew past V8's 512 MB
          // string limit); other text once it is long, up to its last complete tag; a tag this long is not
          // one nmap writes.
          const keep = final ? buf.length : Math.max(pos, buf.length - 6);
          const lt = buf.indexOf('<', pos);
          let cut = pos;
          if (final || lt < 0 || lt >= keep) cut = keep;
          else if (keep - pos > INTERSTITIAL_FLUSH) {
            cut = Math.max(lt, buf.lastIndexOf('>', keep - 1) + 1);
            if (cut === lt && keep - lt > this.maxHostBytes) {
              const at = line + countNewlines(buf.slice(pos, lt));
              throw new PlumError('parse_error', `an element starting at line ${at} is larger than ${this.maxHostBytes} bytes`, {
                hint: 'this is not a file nmap writes; check the input',
                details: { line: at, column: 1, reason: 'size' },
              });
            }
          }
          if (cut > pos) {
            const xml = buf.slice(pos, cut);
            out.push({ kind: 'between', xml, line });
            line += countNewlines(xml);
            pos = cut;
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

interface RunState {
  run: NmapRunInfo;
  sawRoot: boolean;
  sawEnd: boolean;
}

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
  for (let i = 0; i < body.length;) {
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
// The pipeline: text → ordered steps → delivered hosts
//
// Reading is split in three parts so that the same code serves the in-thread
// parse and the worker pool (parse-pool.ts), and both give the same output:
//   1. HostSteps (main thread): splits the text into an ordered list of steps:
//      text between hosts, batches of host elements, a failure, the end.
//   2. hostBatchItems / runHostBatch (main thread or a worker): checks, parses and builds one
//      batch of host elements; stops at the first bad one and returns it.
//   3. Delivery (main thread): consumes the steps strictly in input order,
//      updates the run information and decides what an error means (stop and
//      report it, or throw). Nothing after a step is looked at before the step
//      is delivered, so a worker that is ahead never changes what is reported.

/** One unit of the ordered pipeline. */
export type Step =
  | { kind: 'between'; xml: string; line: number }
  | { kind: 'hosts'; xmls: string[]; lines: number[]; bytes: number }
  /** The splitter refused the input here (e.g. a host larger than maxHostBytes), or reading it failed. */
  | { kind: 'fail'; error: unknown }
  | { kind: 'end'; partial?: { line: number } };

/** XML whitespace only (not JavaScript's \s, which also matches spaces XML calls text). */
const XML_SPACE_ONLY = /^[ \t\r\n]*$/;

/** Splits pushed text into steps; consecutive host elements are grouped into batches of about `batchBytes`. */
export class HostSteps {
  private readonly splitter: HostSplitter;
  private pending: Extract<Step, { kind: 'hosts' }> | undefined;
  private failed = false;
  constructor(
    maxHostBytes = DEFAULT_MAX_HOST_BYTES,
    private readonly batchBytes = HOST_BATCH_BYTES,
  ) {
    this.splitter = new HostSplitter(maxHostBytes);
  }

  /** `flush`: close the current batch at the end of this text (prompt delivery of slowly written input). */
  push(chunk: string, flush = true): Step[] {
    const out: Step[] = [];
    if (this.failed) return out;
    try {
      this.add(this.splitter.push(chunk), out);
    } catch (e) {
      this.fail(e, out);
      return out;
    }
    if (flush) this.close(out);
    return out;
  }

  end(): Step[] {
    const out: Step[] = [];
    if (this.failed) return out;
    let end: ReturnType<HostSplitter['end']>;
    try {
      end = this.splitter.end();
    } catch (e) {
      this.fail(e, out);
      return out;
    }
    this.add(end.pieces, out);
    this.close(out);
    out.push(end.partialHost ? { kind: 'end', partial: { line: end.partialHost.line } } : { kind: 'end' });
    return out;
  }

  /** A failure at this point of the input (the steps before it stay valid). */
  fail(error: unknown, out: Step[]): void {
    this.close(out);
    out.push({ kind: 'fail', error });
    this.failed = true;
  }

  private add(pieces: Piece[], out: Step[]): void {
    for (const p of pieces) {
      if (p.kind === 'between') {
        // The newline nmap writes after each host: XML whitespace between elements carries
        // no run information and is always valid, so delivering it changes nothing. Left
        // out, it does not close the batch (else every host was a batch of its own: one
        // parser call, one message and one validator call per host).
        if (XML_SPACE_ONLY.test(p.xml)) continue;
        // Text between hosts is delivered after the hosts before it: close the batch.
        this.close(out);
        out.push({ kind: 'between', xml: p.xml, line: p.line });
        continue;
      }
      const b = (this.pending ??= { kind: 'hosts', xmls: [], lines: [], bytes: 0 });
      b.xmls.push(p.xml);
      b.lines.push(p.line);
      b.bytes += p.xml.length;
      if (b.bytes >= this.batchBytes) this.close(out);
    }
  }

  private close(out: Step[]): void {
    if (this.pending) out.push(this.pending);
    this.pending = undefined;
  }
}

/**
 * Consumes steps in input order: run information, the checks that need it
 * (is this nmap XML at all?), and what an error means. Throws PlumError for
 * hostile input and for input that is not nmap XML; reports truncation or
 * invalid XML after a valid start through `onError` and stops.
 */
export class Delivery {
  private first = true;
  /** "<nmaprun" seen but not its whole start tag (a file cut in its prolog). */
  private sawRootStart = false;
  stopped = false;
  constructor(
    readonly st: RunState,
    private readonly onError: (e: PlumError) => void,
  ) {}

  between(step: Extract<Step, { kind: 'between' }>): void {
    try {
      scanBetween(step.xml, step.line, this.st, this.first);
      if (!this.st.sawRoot && /<nmaprun\b/.test(step.xml)) this.sawRootStart = true;
      if (this.first && !this.st.sawRoot && !this.sawRootStart && /<\w/.test(step.xml)) {
        throw new PlumError('parse_error', 'this is not nmap XML: no <nmaprun> element at the start', {
          hint: 'give the file nmap wrote with -oX',
          details: { line: step.line, column: 1 },
        });
      }
    } catch (e) {
      this.failed(e);
      return;
    }
    if (this.st.sawRoot) this.first = false;
  }

  /** Before the hosts of a batch are handed out (throws when no <nmaprun> came first). */
  hosts(step: Extract<Step, { kind: 'hosts' }>): void {
    if (!this.st.sawRoot) {
      throw new PlumError('parse_error', 'this is not nmap XML: <host> before any <nmaprun> element', {
        hint: 'give the file nmap wrote with -oX',
        details: { line: step.lines[0] ?? 1, column: 1 },
      });
    }
    this.first = false;
  }

  /** An error at this point: invalid XML after a valid start keeps what came before; hostile input never does. */
  failed(e: unknown): void {
    if (e instanceof PlumError && e.code === 'parse_error' && e.details?.reason !== 'dtd' && e.details?.reason !== 'size' && this.st.sawRoot) {
      this.stopped = true;
      this.onError(e);
      return;
    }
    throw e;
  }

  end(step: Extract<Step, { kind: 'end' }>): void {
    this.stopped = true;
    if (!this.st.sawRoot && this.sawRootStart) {
      this.onError(
        new PlumError('truncated', 'the nmap XML is truncated in its header, before any host', {
          hint: 'nmap was probably killed while writing; rescan',
          details: { line: 1, column: 1 },
        }),
      );
      return;
    }
    if (!this.st.sawRoot) {
      throw new PlumError('parse_error', 'this is not nmap XML: the input is empty or has no <nmaprun> element', {
        hint: 'give the file nmap wrote with -oX',
        details: { line: 1, column: 1 },
      });
    }
    if (step.partial || !this.st.sawEnd) {
      const where = step.partial ? ` inside the <host> element that starts at line ${step.partial.line}` : '';
      this.onError(
        new PlumError('truncated', `the nmap XML is truncated${where}: the file ends before </nmaprun>`, {
          hint: 'nmap was probably killed while writing; every complete host was kept, rescan to get the rest',
          details: step.partial ? { line: step.partial.line, column: 1 } : {},
        }),
      );
    }
  }

  /** Delivers the steps that need no host work (everything but 'hosts'). */
  other(step: Exclude<Step, { kind: 'hosts' }>): void {
    if (step.kind === 'between') this.between(step);
    else if (step.kind === 'fail') this.failed(step.error);
    else this.end(step);
  }
}

// ---------------------------------------------------------------------------
// Public API

/** Hosts of one scan as they are parsed; `run` fills in as the input is read, `error` is set at the end. */
export interface NmapHostStream extends AsyncIterable<ParsedHost> {
  readonly run: NmapRunInfo;
  /** Truncation or invalid XML after the valid hosts; set once iteration has ended. */
  readonly error?: PlumError;
  /** Worker threads that parsed part of the input (0: all of it was parsed in the calling thread); set once iteration has ended. */
  readonly threads: number;
}

type Input = NodeJS.ReadableStream | AsyncIterable<Buffer | string> | Iterable<Buffer | string>;

/**
 * Turns text chunks into raw host nodes, in the calling thread (used by the
 * compat converter). Same pipeline and same errors as parseNmapStream.
 */
class HostReader {
  private readonly steps: HostSteps;
  private readonly delivery: Delivery;
  constructor(
    readonly st: RunState,
    onError: (e: PlumError) => void,
    maxHostBytes = DEFAULT_MAX_HOST_BYTES,
  ) {
    this.steps = new HostSteps(maxHostBytes);
    this.delivery = new Delivery(st, onError);
  }

  get done(): boolean {
    return this.delivery.stopped;
  }

  *feed(chunk: string): Generator<FxNode> {
    yield* this.deliver(this.steps.push(chunk));
  }

  *finish(): Generator<FxNode> {
    yield* this.deliver(this.steps.end());
  }

  private *deliver(steps: Step[]): Generator<FxNode> {
    for (const step of steps) {
      if (this.delivery.stopped) return;
      if (step.kind !== 'hosts') {
        this.delivery.other(step);
        continue;
      }
      this.delivery.hosts(step);
      const error: unknown = yield* hostBatchItems(step.xmls, step.lines, (n) => n);
      if (error !== undefined) this.delivery.failed(error);
    }
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

export const newRunState = (): RunState => ({ run: emptyRun(), sawRoot: false, sawEnd: false });
export { HostReader };

/**
 * Streams hosts from nmap XML with bounded memory. Hostile input (DTDs,
 * entities) and input that is not nmap XML at all throw a PlumError; a file
 * that is truncated or becomes invalid after some hosts yields those hosts and
 * then sets `error`.
 *
 * Large inputs are parsed on worker threads (`opts.workers`, parse-pool.ts);
 * the hosts, run information and errors are the same as in-thread, in the
 * same order.
 */
export function parseNmapStream(input: Input, opts: ParseOptions = {}): NmapHostStream {
  const st = newRunState();
  const volatile = opts.volatile ?? defaultVolatileList();
  let error: PlumError | undefined;
  let threads = 0;
  const stream: NmapHostStream = {
    get run() {
      return st.run;
    },
    get error() {
      return error;
    },
    get threads() {
      return threads;
    },
    [Symbol.asyncIterator]() {
      return streamHosts(
        input,
        opts,
        volatile,
        st,
        (e) => (error = e),
        (n) => (threads = n),
      );
    },
  };
  return stream;
}

/**
 * How many worker threads `workers: 'auto'` means: none below four cores, then
 * one per core beyond two (the calling thread's and the database's), two at most.
 * A thread costs more CPU in all (copies between threads, a second heap) and
 * tens of MB of memory. On two cores one thread sped up a lone parse only when
 * the other core was idle, and took peak memory over the 200 MB budget; during
 * ingest the other core is PostgreSQL's.
 * Not based on the load average, so the same machine always parses the same way.
 */
export function autoWorkers(): number {
  const cores = typeof availableParallelism === 'function' ? availableParallelism() : cpus().length;
  return cores < 4 ? 0 : Math.min(2, cores - 2);
}

/** Below this much host text, threads cost more to start than they save. */
const PARALLEL_MIN_BYTES = 2 * 1024 * 1024;
/** Host text per message to a worker. */
const POOL_BATCH_BYTES = 64 * 1024;

async function* streamHosts(
  input: Input,
  opts: ParseOptions,
  volatile: VolatileList,
  st: RunState,
  onError: (e: PlumError) => void,
  onThreads: (n: number) => void,
): AsyncGenerator<ParsedHost> {
  const workers = opts.workers === undefined || opts.workers === 'auto' ? autoWorkers() : Math.max(0, Math.floor(opts.workers));
  const minBytes = opts.parallelMinBytes ?? PARALLEL_MIN_BYTES;
  const waitForThreads = opts.waitForThreads === true;
  const steps = new HostSteps(opts.maxHostBytes, workers > 0 ? POOL_BATCH_BYTES : HOST_BATCH_BYTES);
  const delivery = new Delivery(st, onError);
  const build = (n: FxNode, xml: string, line: number) => buildParsedHost(n, opts, volatile, xml, line);

  /*
   * Steps wait in `queue`, in input order, and are delivered from its head.
   * A batch goes to a thread when one has room (its entry holds the promise of
   * the result); otherwise this thread parses it when its turn comes, host by
   * host as the consumer asks. So while this thread parses and delivers its
   * batches, the threads parse the next ones; the batches kept here cost no
   * copy between threads, and their hosts die young. (Parsing kept batches
   * ahead of their turn, while waiting for a thread, measured more CPU and
   * memory: whole batches of hosts then outlive the young generation.)
   * What an error means is decided at delivery, in order, as in-thread.
   *
   * At most `ahead` batches are queued: memory stays bounded whatever the
   * input size, and reading pauses while the consumer is slower than the
   * parse (backpressure reaches the file stream through the iterator).
   */
  interface Entry {
    step: Step;
    /** From a thread. */
    result?: Promise<BatchResult<ParsedHost>>;
  }
  const queue: Entry[] = [];
  let queuedBatches = 0;
  let pool: ParsePool | undefined;
  let hostBytes = 0;
  const enqueue = (list: Step[]): void => {
    for (const step of list) {
      if (step.kind !== 'hosts') {
        queue.push({ step });
        continue;
      }
      hostBytes += step.bytes;
      if (!pool && workers > 0 && hostBytes >= minBytes) pool = new ParsePool(workers, { openOnly: opts.openOnly === true, volatile });
      const entry: Entry = { step };
      // To a thread when one has room; else (threads busy, still starting, or failed) this thread keeps it.
      if (pool && !pool.failed && (waitForThreads || pool.hasRoom)) {
        entry.result = pool.run(step.xmls, step.lines);
      }
      queue.push(entry);
      queuedBatches++;
    }
  };
  const iterator = isAsyncIterable(input)
    ? (input as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]()
    : (input as Iterable<Buffer | string>)[Symbol.iterator]();
  const decoder = new StringDecoder('utf8');
  let inputDone = false;
  const read = async (): Promise<void> => {
    let next: IteratorResult<Buffer | string>;
    try {
      next = await iterator.next();
    } catch (e) {
      // A read error takes its place in the order: the hosts before it are still delivered.
      inputDone = true;
      const out: Step[] = [];
      steps.fail(e, out);
      enqueue(out);
      return;
    }
    if (next.done) {
      inputDone = true;
      const rest = decoder.end();
      if (rest) enqueue(steps.push(rest, false));
      enqueue(steps.end());
      return;
    }
    const chunk = next.value;
    const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    // Threads get full batches; in-thread, hosts go out at the end of every chunk as before.
    if (text) enqueue(steps.push(text, !pool));
  };
  try {
    for (;;) {
      // Read ahead: in-thread one batch at a time; with threads, enough to keep them and this thread busy.
      const ahead = pool ? 2 * workers + 2 : 1;
      while (!inputDone && queuedBatches < ahead) await read();
      const head = queue.shift();
      if (!head) break;
      const step = head.step;
      if (step.kind !== 'hosts') {
        delivery.other(step);
      } else {
        queuedBatches--;
        delivery.hosts(step);
        let r: BatchResult<ParsedHost> | undefined;
        if (head.result) {
          try {
            r = await head.result;
          } catch (e) {
            // A thread that could not start or died: the batch is parsed here instead (same code, same result).
            if (!(e instanceof PoolFailure)) throw e;
          }
        }
        let error: unknown;
        if (r) {
          for (const h of r.items) yield h;
          if (r.thrown !== undefined) throw r.thrown;
          error = r.error;
        } else {
          // Its turn, not parsed yet: build each host as the consumer asks for it.
          const it = hostBatchItems(step.xmls, step.lines, build);
          for (let n = it.next(); ; n = it.next()) {
            if (n.done) {
              error = n.value;
              break;
            }
            yield n.value;
          }
        }
        if (error !== undefined) delivery.failed(error);
      }
      if (delivery.stopped) break;
    }
  } finally {
    // Also on an early break or a throw: no worker outlives the iteration, and the file is closed.
    if (pool) {
      onThreads(pool.threadsUsed);
      await pool.close();
    }
    if (!inputDone) await iterator.return?.();
  }
}

function isAsyncIterable(x: unknown): boolean {
  return x !== null && typeof x === 'object' && Symbol.asyncIterator in x;
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
  for (const node of reader.feed(xml)) {
    const host = buildParsedHost(node, opts, volatile);
    if (host) hosts.push(host);
  }
  if (!reader.done) {
    for (const node of reader.finish()) {
      const host = buildParsedHost(node, opts, volatile);
      if (host) hosts.push(host);
    }
  }
  return error ? { run: st.run, hosts, error } : { run: st.run, hosts };
}

/** Parses an nmap XML file, streaming (all hosts are returned in memory). */
export async function parseNmapFile(path: string, opts: ParseOptions = {}): Promise<ParsedScan> {
  return collect(parseNmapStream(openXmlFile(path), { source: path, ...opts }));
}

/** Bytes per read of openXmlFile: one host batch (HostSteps) per chunk in-thread. */
const READ_BYTES = 64 * 1024;

/** Our error for a file that cannot be read (the code of a failed open or read). */
function readError(path: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new PlumError('not_found', `no such file: ${path}`, { hint: 'check the path', cause: e });
  if (code === 'EISDIR') return new PlumError('invalid_input', `${path} is a directory`, { hint: 'give an nmap XML file', cause: e });
  if (code === 'EACCES') return new PlumError('invalid_input', `cannot read ${path}: permission denied`, { hint: 'check the file permissions', cause: e });
  return e;
}

/**
 * A file's bytes, chunk by chunk. A regular file is read with synchronous
 * reads: an asynchronous read per chunk went to libuv's thread pool and back,
 * and the parse waited for every one (bench/parse.ts measured the wait); a
 * read from the page cache is short against the parsing of a chunk, which holds
 * the thread anyway.
 * Anything else (a pipe, a FIFO, a directory) is read as a stream, so the
 * event loop is never held waiting for a writer such as nmap.
 */
export function openXmlFile(path: string): AsyncIterable<Buffer> {
  return {
    async *[Symbol.asyncIterator]() {
      let regular: boolean;
      try {
        regular = statSync(path).isFile();
      } catch (e) {
        throw readError(path, e);
      }
      if (!regular) {
        try {
          for await (const chunk of createReadStream(path, { highWaterMark: READ_BYTES })) yield chunk as Buffer;
        } catch (e) {
          throw readError(path, e);
        }
        return;
      }
      let fd: number;
      try {
        fd = openSync(path, 'r');
      } catch (e) {
        throw readError(path, e);
      }
      try {
        for (let chunks = 1; ; chunks++) {
          // A new buffer per chunk: a consumer may keep the chunks it was given.
          const buf = Buffer.allocUnsafe(READ_BYTES);
          let n: number;
          try {
            n = readSync(fd, buf, 0, READ_BYTES, null);
          } catch (e) {
            throw readError(path, e);
          }
          if (n === 0) return;
          yield n === READ_BYTES ? buf : buf.subarray(0, n);
          // A turn of the event loop every 512 KB, as the asynchronous reads gave: without it a whole file's
          // parse would run in microtasks, and nothing else (timers, heartbeats, HTTP requests, messages from the
          // parse threads) would run until it ends. A turn every chunk cost more than it bought.
          if (chunks % 8 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
        }
      } finally {
        closeSync(fd);
      }
    },
  };
}

export type { RunState, FxNode };
