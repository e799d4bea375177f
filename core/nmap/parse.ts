import { availableParallelism, cpus } from 'node:os';
import { StringDecoder } from 'node:string_decoder';
import { PlumError } from '../errors.ts';
import { BATCH_BYTES as HOST_BATCH_BYTES, buildParsedHost, hostBatchItems, type BatchResult, type FxNode } from './host.ts';
import { ParsePool, PoolFailure } from './parse-pool.ts';
import { openXmlFile } from './read-file.ts';
import { newRunState, scanBetween, type RunState } from './run-info.ts';
import { HostSplitter, type Piece } from './split.ts';
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

export type { FxNode };
