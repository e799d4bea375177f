import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { PlumError, type ErrorCode } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import type { ScannerOutput } from '../core/scanner/contract.ts';

/*
 * How every scanner is started: an argument array (never a shell), in a process group of its own, so a
 * cancellation or a timeout stops the scanner and every child it started. Stopping sends the group a
 * sequence of signals (SIGTERM then SIGKILL after a grace by default; a scanner that must flush what it
 * found first asks for something gentler); what the program wrote so far is still returned, with the reason
 * it was stopped. Output is collected within bounds (a scanner's status lines repeat for hours) and can be
 * read line by line as it arrives.
 */

export type StopReason = 'timeout' | 'cancelled';

/** One signal of a stop sequence, sent `afterMs` after the stop began. */
export interface StopStep {
  signal: NodeJS.Signals;
  afterMs: number;
}

export interface StreamHandling {
  /** What to keep of the stream: its beginning, its end, all of it, or nothing. Default: 'none'. */
  keep?: 'head' | 'tail' | 'all' | 'none';
  /** Characters kept for 'head' and 'tail'. */
  limit?: number;
  /** Called with each line (split at CR or LF, empty lines left out) as it arrives. */
  onLine?(line: string): void;
}

export interface ProcessGroupOptions {
  /** The program's name in messages ('nmap'). */
  name: string;
  cwd?: string;
  signal?: AbortSignal;
  /** Stop the program after this long (reason 'timeout'). */
  timeoutMs?: number;
  /** Signals sent to the group when stopping; default SIGTERM, then SIGKILL after 3 s. */
  stopSequence?: StopStep[];
  stdout?: StreamHandling;
  stderr?: StreamHandling;
  /** Hint when the program is not found ('install nmap or set PLUM_NMAP to its path'). */
  notFoundHint: string;
  /** Error code and hint when it cannot be started for another reason. */
  startFailure: { code: ErrorCode; hint: string };
  log?: Logger;
}

export interface ProcessGroupResult {
  /** Exit code; null when a signal ended the program (or it never started because the signal was already aborted). */
  code: number | null;
  /** Set when the program was stopped by us. */
  reason?: StopReason;
  stdout: string;
  stderr: string;
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export const termThenKill = (graceMs: number): StopStep[] => [
  { signal: 'SIGTERM', afterMs: 0 },
  { signal: 'SIGKILL', afterMs: graceMs },
];

/** Collects one stream within its bounds and splits it into lines for the callback. */
function streamSink(handling: StreamHandling | undefined, log: Logger | undefined) {
  const keep = handling?.keep ?? 'none';
  const limit = handling?.limit ?? Infinity;
  let text = '';
  let partial = '';
  return {
    push(chunk: string): void {
      if (keep === 'all') text += chunk;
      else if (keep === 'head') {
        if (text.length < limit) text = (text + chunk).slice(0, limit);
      } else if (keep === 'tail') text = (text + chunk).slice(-limit);
      if (!handling?.onLine) return;
      const lines = (partial + chunk).split(/[\r\n]/);
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line) continue;
        try {
          handling.onLine(line);
        } catch (e) {
          log?.warn({ err: e }, 'line callback failed');
        }
      }
    },
    get text() {
      return text;
    },
  };
}

/**
 * Runs `command` with `args` in its own process group and resolves when it has ended and its output is
 * closed. Rejects only when it could not be started (a PlumError: 'unavailable' when it is not installed).
 * A signal already aborted starts nothing and resolves as cancelled.
 */
export function runInProcessGroup(command: string, args: string[], options: ProcessGroupOptions): Promise<ProcessGroupResult> {
  const { signal, log } = options;
  if (signal?.aborted) return Promise.resolve({ code: null, reason: 'cancelled', stdout: '', stderr: '' });
  const stopSequence = options.stopSequence ?? termThenKill(3000);
  return new Promise((resolve, reject) => {
    const stdout = streamSink(options.stdout, log);
    const stderr = streamSink(options.stderr, log);
    const wantStdout = (options.stdout && (options.stdout.keep ?? 'none') !== 'none') || options.stdout?.onLine;
    const child = spawn(command, args, {
      detached: true,
      ...(options.cwd ? { cwd: options.cwd } : {}),
      stdio: ['ignore', wantStdout ? 'pipe' : 'ignore', 'pipe'],
    });
    let reason: StopReason | undefined;
    let settled = false;
    const stopTimers: NodeJS.Timeout[] = [];

    const signalGroup = (sig: NodeJS.Signals) => {
      try {
        // Negative pid: the whole group the program leads (detached spawn).
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        // Already gone.
      }
    };
    const stop = (why: StopReason) => {
      if (reason || child.exitCode !== null || child.signalCode !== null || settled) return;
      reason = why;
      log?.info({ why, pid: child.pid }, `stopping ${options.name}`);
      for (const step of stopSequence) {
        if (step.afterMs <= 0) signalGroup(step.signal);
        else stopTimers.push(setTimeout(() => signalGroup(step.signal), step.afterMs));
      }
    };
    const onAbort = () => stop('cancelled');
    signal?.addEventListener('abort', onAbort, { once: true });
    const timeout = options.timeoutMs ? setTimeout(() => stop('timeout'), options.timeoutMs) : undefined;
    const finish = () => {
      settled = true;
      clearTimeout(timeout);
      for (const t of stopTimers) clearTimeout(t);
      signal?.removeEventListener('abort', onAbort);
    };

    if (child.stdout) {
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => stdout.push(chunk));
    }
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => stderr.push(chunk));
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (settled) return;
      finish();
      reject(
        err.code === 'ENOENT'
          ? new PlumError('unavailable', `${options.name} not found ("${command}")`, { hint: options.notFoundHint, cause: err })
          : new PlumError(options.startFailure.code, `could not start ${options.name}: ${err.message}`, { hint: options.startFailure.hint, cause: err }),
      );
    });
    child.on('close', (code) => {
      if (settled) return;
      finish();
      resolve({ code, stdout: stdout.text, stderr: stderr.text, ...(reason ? { reason } : {}) });
    });
  });
}

/**
 * A scanner's output once it has ended: the file it wrote (empty when it failed before writing one; an
 * interrupted scanner's file holds what it found so far) and how its run went.
 */
export async function scannerOutputOf(outputPath: string, outcome: ProcessGroupResult, started: number, args: string[]): Promise<ScannerOutput> {
  let output: Buffer = Buffer.alloc(0);
  try {
    output = await readFile(outputPath);
  } catch {
    // Nothing written.
  }
  return {
    output,
    exitCode: outcome.code,
    stderr: outcome.stderr,
    interrupted: outcome.reason !== undefined,
    ...(outcome.reason ? { interruptReason: outcome.reason } : {}),
    durationMs: Date.now() - started,
    args,
  };
}
