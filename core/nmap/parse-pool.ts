import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { PlumError, type ErrorCode } from '../errors.ts';
import { compactSearchFields, type SearchFields } from '../fields.ts';
import type { BatchResult } from './host.ts';
import type { ParsedHost } from './types.ts';
import type { VolatileList } from './volatile.ts';
import { projectPath } from '../project-root.ts';

/*
 * The worker-thread pool behind parseNmapStream: the one runtime piece of
 * core/nmap. It lives here, next to the pure parser it serves, because every
 * consumer of parseNmapStream (CLI, agents' activities, benches) must get it
 * without knowing about it, and core/ must not import the application layers.
 * The thread's entry point is in workers/ (workers/parse-thread.ts), with the
 * other entry points.
 *
 * The main thread splits the input into batches of host elements (parse.ts
 * HostSteps); a worker checks, parses and fingerprints a batch (parse.ts
 * runHostBatch, the very code the in-thread parse runs) and sends back the
 * ParsedHosts. Results are matched by id; the caller keeps them in input
 * order. Nothing here decides what an error means: a batch's error travels
 * back as data and is judged by the caller, in order (parse.ts Delivery).
 */

/** Thread entry: a small .mjs that loads the TypeScript thread code through tsx when needed. */
const THREAD_URL = pathToFileURL(projectPath('workers', 'parse-thread.mjs'));

export interface ThreadInit {
  openOnly: boolean;
  /** The compiled volatile list: plain data, RegExps, Sets and Maps, all structured-cloneable. */
  volatile: VolatileList;
}

export interface BatchRequest {
  id: number;
  xmls: string[];
  lines: number[];
}

export type BatchReply =
  /** Sent once, when the thread has loaded its code. */
  { ready: true } | { id: number; hosts: ParsedHost[]; error?: WireError; thrown?: WireError };

/** An error as it crosses the thread boundary (structured clone keeps neither the class nor our fields). */
export type WireError =
  | { plum: true; code: ErrorCode; message: string; hint?: string; details?: Record<string, unknown> }
  | { plum: false; name: string; message: string; stack?: string };

export function toWire(e: unknown): WireError {
  if (e instanceof PlumError) return { plum: true, code: e.code, message: e.message, hint: e.hint, details: e.details };
  if (e instanceof Error) return { plum: false, name: e.name, message: e.message, stack: e.stack };
  return { plum: false, name: 'Error', message: String(e) };
}

export function fromWire(w: WireError): Error {
  if (w.plum) return new PlumError(w.code, w.message, { hint: w.hint, details: w.details });
  const e = new Error(w.message);
  e.name = w.name;
  if (w.stack) e.stack = w.stack;
  return e;
}

/*
 * Every port carries 40 search-field lists, most of them empty; cloning them
 * costs more than rebuilding them. They travel as the non-empty lists only
 * and are rebuilt with compactSearchFields() (same keys, same order, same
 * shared empty list as a host parsed in-thread).
 */
export function packHost(h: ParsedHost): ParsedHost {
  for (const p of h.ports) {
    const compact: Partial<SearchFields> = {};
    for (const k in p.fields) {
      const v = p.fields[k as keyof SearchFields];
      if (v.length) compact[k as keyof SearchFields] = v;
    }
    (p as { fields: Partial<SearchFields> }).fields = compact;
  }
  return h;
}

export function unpackHost(h: ParsedHost): ParsedHost {
  for (const p of h.ports) p.fields = Object.assign(compactSearchFields(), p.fields);
  return h;
}

/** Batches in flight per thread before the caller keeps batches for itself. */
const PER_THREAD = 2;

/** Parse threads alive in this process (all pools): lets tests prove that none outlives its stream. */
const live = new Set<Worker>();
export const liveParseThreads = (): number => live.size;
let readyCount = 0;
/** Parse threads (all pools) that have loaded their code and not exited. */
export const readyParseThreads = (): number => readyCount;

/** The pool could not run a batch (a thread failed to start or died): the caller parses it in its own thread. */
export class PoolFailure extends Error {}

interface Slot {
  worker: Worker;
  inFlight: number;
  ready: boolean;
  used: boolean;
}

export class ParsePool {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, { slot: Slot; resolve: (r: BatchResult<ParsedHost>) => void; reject: (e: unknown) => void }>();
  private nextId = 0;
  private closing = false;
  private failure: PoolFailure | undefined;

  constructor(size: number, init: ThreadInit) {
    for (let i = 0; i < size; i++) {
      // V8's default heap limits: a smaller young generation saved some memory but made the thread spend
      // several times as long in GC.
      const worker = new Worker(THREAD_URL, { workerData: init });
      const slot: Slot = { worker, inFlight: 0, ready: false, used: false };
      live.add(worker);
      // An idle thread must not keep the process alive (a consumer may drop the
      // iterator without finishing it); a busy one must, or an `await` on its
      // result could see the process exit under it. ref() while work is in flight.
      worker.unref();
      worker.on('message', (m: BatchReply) => this.reply(slot, m));
      worker.on('error', (e) => this.fail(new PoolFailure(`a parse thread failed: ${e.message}`, { cause: e })));
      worker.on('exit', (code) => {
        live.delete(worker);
        if (slot.ready) readyCount--;
        slot.ready = false;
        if (!this.closing) this.fail(new PoolFailure(`a parse thread exited (code ${code})`));
      });
      this.slots.push(slot);
    }
  }

  /** Threads that have parsed at least one batch. */
  get threadsUsed(): number {
    return this.slots.filter((s) => s.used).length;
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /**
   * Whether a thread has loaded its code. Starting one takes a few hundred
   * milliseconds (tsx transforms the sources); until then the caller parses
   * in its own thread rather than wait.
   */
  get ready(): boolean {
    return !this.failure && !this.closing && this.slots.some((s) => s.ready);
  }

  /**
   * Whether a ready thread has fewer than PER_THREAD batches: one being parsed
   * and one waiting, so it never idles between messages; more would only wait.
   */
  get hasRoom(): boolean {
    return this.ready && this.slots.some((s) => s.ready && s.inFlight < PER_THREAD);
  }

  /** Parses one batch on the least busy thread. Rejects with PoolFailure when the pool cannot. */
  run(xmls: string[], lines: number[]): Promise<BatchResult<ParsedHost>> {
    if (this.failure || this.closing) {
      const refused = Promise.reject(this.failure ?? new PoolFailure('the parse pool is closed'));
      refused.catch(() => {});
      return refused;
    }
    // The least busy ready thread; before any is ready, the least busy one (its queue waits for it).
    const anyReady = this.slots.some((s) => s.ready);
    let slot: Slot | undefined;
    for (const s of this.slots) if ((s.ready || !anyReady) && (!slot || s.inFlight < slot.inFlight)) slot = s;
    const id = this.nextId++;
    const result = new Promise<BatchResult<ParsedHost>>((resolve, reject) => this.pending.set(id, { slot: slot!, resolve, reject }));
    // Results wait in the caller's queue, behind earlier batches: a rejection is
    // handled when its turn comes, not reported as unhandled meanwhile.
    result.catch(() => {});
    if (slot!.inFlight++ === 0) slot!.worker.ref();
    slot!.worker.postMessage({ id, xmls, lines } satisfies BatchRequest);
    return result;
  }

  private reply(slot: Slot, m: BatchReply): void {
    if ('ready' in m) {
      slot.ready = true;
      readyCount++;
      // unref() before the thread is up does not cover its message ports (measured: a
      // dropped stream kept the process alive); say it again now that it is.
      if (slot.inFlight === 0) slot.worker.unref();
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    slot.used = true;
    if (--slot.inFlight === 0) slot.worker.unref();
    const r: BatchResult<ParsedHost> = { items: m.hosts.map(unpackHost) };
    if (m.error) r.error = fromWire(m.error);
    if (m.thrown) r.thrown = fromWire(m.thrown);
    p.resolve(r);
  }

  private fail(e: PoolFailure): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
    for (const s of this.slots) s.inFlight = 0;
    void this.close();
  }

  /** Stops every thread (pending batches are rejected). Safe to call twice. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const p of this.pending.values()) p.reject(new PoolFailure('the parse pool is closed'));
    this.pending.clear();
    // The event loop is held open until every thread has exited: an unref'd thread does not hold it, and with
    // nothing else pending the process exited inside this await (exit code 13, the caller's code after its
    // loop never ran) when threads were still starting — worker.ref() then did not hold it either (measured).
    const holdOpen = setInterval(() => {}, 60_000);
    try {
      await Promise.all(
        this.slots.map(async (s) => {
          await s.worker.terminate();
          live.delete(s.worker);
          if (s.ready) readyCount--;
          s.ready = false;
        }),
      );
    } finally {
      clearInterval(holdOpen);
    }
  }
}
