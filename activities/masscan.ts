import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PlumError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import {
  buildMasscanArgs,
  masscanJsonOf,
  masscanNdjsonOf,
  parseMasscanDiscovery,
  parseMasscanStatus,
  type MasscanDiscovery,
  type MasscanSettings,
} from '../core/masscan/args.ts';
import { readMasscanOutput } from '../core/masscan/result.ts';
import { countPorts } from '../core/profiles.ts';
import { countAddresses, isAddressTarget, mergeIntervals, parseTarget, toInterval } from '../core/targets.ts';
import type { ScannedResult, Scanner, ScannerJob, ScannerOutput, ScannerRunOptions } from '../core/scanner/contract.ts';
import { runInProcessGroup, scannerOutputOf } from './process-group.ts';

/*
 * The masscan runner (the scouting stage of two-stage profiles). masscan is started with the argument array
 * core/masscan/args.ts builds (never a shell), in its own process group and working directory (it writes
 * paused.conf where it runs when interrupted), so a timeout or a cancellation stops it and its output file is
 * still read back: what it found before is kept. Progress comes from its status lines on stderr.
 */

export interface MasscanRunnerOptions {
  masscanPath?: string;
  settings: MasscanSettings;
  log?: Logger;
  /** Where the temporary output directory is created (os.tmpdir() by default). */
  tmpDir?: string;
  /** Time between SIGINT and SIGKILL when stopping masscan (default: its --wait plus 20 s). */
  killGraceMs?: number;
}

/** Last lines of masscan's stderr that say what went wrong (its status lines left out). */
export function masscanMessage(stderr: string): string {
  const lines = stderr
    .split(/[\r\n]+/)
    .map((l) => l.trim())
    .filter((l) => l && !/^rate:/.test(l) && !/^(Starting masscan|Initiating|Scanning \d+ hosts)/.test(l));
  const msg = lines.slice(-3).join(' / ');
  return msg.length > 400 ? `${msg.slice(0, 397)}...` : msg || 'no message';
}

/** Probes one job sends: its addresses × its ports (masscan sends one probe per pair, without retries). */
export function masscanProbes(job: Pick<ScannerJob, 'targets' | 'tcpPorts' | 'udpPorts'>): number {
  const intervals = job.targets.map(parseTarget).filter(isAddressTarget).map(toInterval);
  return Number(countAddresses(mergeIntervals(intervals))) * (countPorts(job.tcpPorts) + countPorts(job.udpPorts));
}

/**
 * Seconds after its --wait by which masscan has exited by itself once asked to stop: it forces its own exit
 * ten seconds past the wait, counted in whole seconds from when its main loop sees the stop; the rest is margin.
 */
const MASSCAN_SELF_EXIT_S = 20;

/**
 * Seconds past its wait after which a masscan still running is stopped and its sweep taken as complete: every
 * probe was sent and every late answer waited for, but its receive thread sometimes never ends (it then
 * prints `waiting -N-secs` for ever) and would hold the job until its time limit.
 */
export const MASSCAN_OVERDUE_S = 15;

/**
 * An interrupted scan's output: its file when that holds every port masscan announced, otherwise (killed
 * before it flushed) the announced ports as -oD lines, which the same reader reads.
 */
function withDiscoveries(result: ScannerOutput, discovered: readonly MasscanDiscovery[]): ScannerOutput {
  if (discovered.length === 0) return result;
  const inFile = readMasscanOutput(result.output).hosts.reduce((n, h) => n + h.ports.length, 0);
  return inFile >= discovered.length ? result : { ...result, output: Buffer.from(masscanNdjsonOf(discovered)) };
}

/**
 * A sweep masscan finished but had to be stopped (hung past its wait): complete, not interrupted. Its file when
 * masscan closed it with every announced port, otherwise the announced ports as a closed -oJ document.
 */
function sweepEnded(result: ScannerOutput, discovered: readonly MasscanDiscovery[]): ScannerOutput {
  const inFile = readMasscanOutput(result.output);
  const whole = inFile.finished && !inFile.error && inFile.hosts.reduce((n, h) => n + h.ports.length, 0) >= discovered.length;
  const { interruptReason: _stopped, ...rest } = result;
  return { ...rest, interrupted: false, output: whole ? result.output : Buffer.from(masscanJsonOf(discovered)) };
}

export function createMasscanScanner(options: MasscanRunnerOptions): Scanner & { readonly settings: MasscanSettings } {
  const masscanPath = options.masscanPath ?? 'masscan';
  const log = options.log;

  async function buildArgs(job: ScannerJob, outputPath: string): Promise<string[]> {
    return buildMasscanArgs(job, outputPath, options.settings);
  }

  async function run(job: ScannerJob, opts: ScannerRunOptions = {}): Promise<ScannerOutput> {
    if (opts.signal?.aborted) throw new PlumError('cancelled', 'scan cancelled before masscan started');
    const dir = await mkdtemp(path.join(options.tmpDir ?? os.tmpdir(), 'plum-masscan-'));
    const outPath = path.join(dir, 'scan.xml');
    try {
      const args = await buildArgs(job, outPath);
      log?.debug({ args }, 'starting masscan');
      const started = Date.now();
      // SIGINT: masscan stops sending, waits --wait seconds for late answers, and exits with its file written.
      // Its receive thread sometimes never ends on a quiet interface (and further SIGINTs do not help: once
      // the wait is over its main loop keeps resetting the flag they count on), so SIGKILL follows a few
      // seconds after the wait; what it found is then taken from the lines it printed as it found it.
      const wait = Number(args[args.indexOf('--wait') + 1]);
      const grace = options.killGraceMs ?? (wait + 5) * 1000;
      const discovered: MasscanDiscovery[] = [];
      const probes = masscanProbes(job);
      const overdue = new AbortController();
      const outcome = await runInProcessGroup(masscanPath, args, {
        name: 'masscan',
        log,
        cwd: dir,
        signal: opts.signal ? AbortSignal.any([opts.signal, overdue.signal]) : overdue.signal,
        ...(job.timeoutMs ? { timeoutMs: job.timeoutMs } : {}),
        stopSequence: [
          { signal: 'SIGINT', afterMs: 0 },
          { signal: 'SIGKILL', afterMs: grace },
        ],
        stdout: {
          onLine: (line) => {
            const d = parseMasscanDiscovery(line, Math.floor(Date.now() / 1000));
            if (d) discovered.push(d);
          },
        },
        // Status lines end with a carriage return and repeat every second: keep only the tail of stderr.
        stderr: {
          keep: 'tail',
          limit: 16_384,
          onLine: (line) => {
            const status = parseMasscanStatus(line);
            if (!status) return;
            const { overdueSeconds, ...p } = status;
            // masscan's "% done" is the share of its probes sent: the packets count of the progress.
            opts.onProgress?.({ ...p, packets: Math.round((p.percent / 100) * probes) });
            if (overdueSeconds !== undefined && overdueSeconds >= MASSCAN_OVERDUE_S && !overdue.signal.aborted) {
              log?.warn({ overdueSeconds, args }, 'masscan hangs past its wait: stopping it; its sweep is complete');
              overdue.abort();
            }
          },
        },
        notFoundHint: 'install masscan (Debian package masscan) or set PLUM_MASSCAN to its path',
        startFailure: { code: 'scanner_failed', hint: 'check PLUM_MASSCAN' },
      });
      const result = await scannerOutputOf(outPath, outcome, started, args);
      if (overdue.signal.aborted && !opts.signal?.aborted && result.interruptReason === 'cancelled') return sweepEnded(result, discovered);
      if (result.interrupted) return withDiscoveries(result, discovered);
      if (outcome.code !== 0) {
        throw new PlumError('scanner_failed', `masscan failed (exit ${outcome.code}): ${masscanMessage(outcome.stderr)}`, {
          hint: 'masscan needs root (raw packets) and a route or PLUM_MASSCAN_INTERFACE/_ROUTER_MAC; the job is retried',
          details: { exitCode: outcome.code, args },
        });
      }
      return result;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  function read(output: Buffer): ScannedResult {
    return readMasscanOutput(output);
  }

  return { name: 'masscan', settings: options.settings, buildArgs, run, read };
}
