import { createHash } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PlumError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { validateHostTimeout, validateNmapArgs } from '../core/nmap-args.ts';
import { sha256Hex, withCustomScripts, type CustomScriptRef } from '../core/nmap/custom-scripts.ts';
import { installedScriptDb } from '../core/nmap/script-db.ts';
import { PROJECT_SCRIPTS, enforceScriptPolicy, isProjectScript, normalisePortList, parseScriptList } from '../core/profiles.ts';
import { parseTarget } from '../core/targets.ts';
import { projectPath } from '../core/project-root.ts';
import type { ScannerOutput } from '../core/scanner/contract.ts';
import { runInProcessGroup, scannerOutputOf, termThenKill } from './process-group.ts';

/**
 * The nmap runner. nmap is started with an argument array (never a shell), in
 * its own process group so a timeout or a cancellation kills it and every
 * child it started; XML goes to a temporary file that is read back even when
 * the scan was interrupted (partial results are kept, the parser reports the
 * truncation). Everything reaching nmap's command line is re-validated here,
 * whatever the caller checked before: targets cannot look like options, extra
 * options go through the allowlist, scripts are names or our own files.
 */

/** Directory of the project's own NSE scripts (nse/ at the repository root). */
export const PROJECT_NSE_DIR = `${projectPath('nse')}/`;

export interface NmapScanSpec {
  /** nmap target expressions (addresses, CIDRs, `10.0.0.5-9`, names); the scope guard ran before. */
  targets: string[];
  tcpPorts: string;
  udpPorts?: string;
  scripts?: string[];
  /** Scripts of refused categories an admin allowed (core/nmap/script-db.ts); others are refused here too. */
  allowScripts?: string[];
  /** The custom scripts among `scripts` (`plum nse add`), by content hash: fetched from the runner's scriptSource. */
  customScripts?: CustomScriptRef[];
  /** Validated extra options (core/nmap-args.ts). */
  extraArgs?: string[];
  /** nmap --host-timeout, default 40s (reference §2). */
  hostTimeout?: string;
  /** 'ipv6' adds -6; PlannedJob.kind can be passed as is. */
  kind?: 'ipv4' | 'ipv6' | 'fqdn';
  /** Kill nmap after this long; the partial XML is returned with interrupted=true. */
  timeoutMs?: number;
}

export interface NmapProgress {
  /** Percent of the current phase, 0-100. */
  percent: number;
  etaSeconds?: number;
  /** nmap's phase name: 'Connect Scan', 'SYN Stealth Scan', 'NSE', 'Service scan'... */
  phase: string;
  hostsCompleted?: number;
  hostsUp?: number;
}

export interface NmapRunOptions {
  signal?: AbortSignal;
  onProgress?(p: NmapProgress): void;
}

/** The scanner contract's output, with the XML under the name nmap's callers know it by. */
export type NmapRunResult = Omit<ScannerOutput, 'output'> & { xml: Buffer };

export interface NmapRunnerOptions {
  nmapPath?: string;
  log?: Logger;
  /** Where the temporary XML directory is created (os.tmpdir() by default). */
  tmpDir?: string;
  /** Directory holding plum-*.nse; PROJECT_NSE_DIR by default. */
  nseDir?: string;
  /** SYN scan (-sS, needs root) instead of connect scan (-sT); default: true when running as root. */
  privileged?: boolean;
  /** --stats-every interval, default 2s. */
  statsEvery?: string;
  /** Time between SIGTERM and SIGKILL when stopping nmap. */
  killGraceMs?: number;
  /**
   * Where custom scripts' content comes from (the database in-process, the server for agents). The
   * runner checks the SHA-256 of what it returns whatever the source, and writes the script into the
   * scan's private directory (0700), from where nmap runs it by path.
   */
  scriptSource?: (ref: CustomScriptRef) => Promise<Uint8Array>;
}

export interface NmapRunner {
  runNmap(spec: NmapScanSpec, opts?: NmapRunOptions): Promise<NmapRunResult>;
  /** The exact argument list a spec produces (for logs, dry runs and tests). */
  buildArgs(spec: NmapScanSpec, xmlPath: string): Promise<string[]>;
  privileged: boolean;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** Parses one line of nmap's --stats-every output; null when it carries no progress. */
export function parseProgressLine(line: string, state: { hostsCompleted?: number; hostsUp?: number; phase?: string } = {}): NmapProgress | null {
  const stats = line.match(/^Stats: [\d:]+ elapsed; (\d+) hosts? completed \((\d+) up\), \d+ undergoing (.+)$/);
  if (stats) {
    state.hostsCompleted = Number(stats[1]);
    state.hostsUp = Number(stats[2]);
    state.phase = stats[3]!.trim();
    return null;
  }
  const timing = line.match(/^(.+?) Timing: About ([\d.]+)% done(?:; ETC: [\d:]+ \((\d+):(\d+):(\d+) remaining\))?/);
  if (!timing) return null;
  const p: NmapProgress = {
    percent: Math.min(100, Number(timing[2])),
    phase: timing[1]!.trim(),
  };
  if (timing[3] !== undefined) p.etaSeconds = Number(timing[3]) * 3600 + Number(timing[4]) * 60 + Number(timing[5]);
  if (state.hostsCompleted !== undefined) p.hostsCompleted = state.hostsCompleted;
  if (state.hostsUp !== undefined) p.hostsUp = state.hostsUp;
  return p;
}

/** nmap's own error message from its stderr/stdout, in one line. */
export function nmapMessage(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^(stack traceback:|\[C\]:|Starting Nmap|QUITTING!$)/.test(l) && !/^\/.*\.lua:\d+: in /.test(l));
  const msg = lines.slice(0, 3).join(' / ');
  return msg.length > 400 ? `${msg.slice(0, 397)}...` : msg || 'no message';
}

/**
 * SHA-256 of each project NSE script, so an agent can report (and a server
 * check) which script versions produced a result.
 */
export async function projectScriptDigests(nseDir = PROJECT_NSE_DIR): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of PROJECT_SCRIPTS) {
    out[name] = createHash('sha256')
      .update(await readFile(path.join(nseDir, `${name}.nse`)))
      .digest('hex');
  }
  return out;
}

/** The system resolver used by the scope guard (all addresses of a name). */
export async function systemResolver(name: string): Promise<string[]> {
  const res = await lookup(name, { all: true, verbatim: true });
  return [...new Set(res.map((r) => r.address))];
}

/** The custom scripts of a scan live next to its XML, in the scan's private temporary directory. */
const customScriptDir = (xmlPath: string) => path.join(path.dirname(xmlPath), 'nse');

export function createNmapRunner(options: NmapRunnerOptions = {}): NmapRunner {
  const nmapPath = options.nmapPath ?? 'nmap';
  const nseDir = options.nseDir ?? PROJECT_NSE_DIR;
  const privileged = options.privileged ?? isRoot();
  const statsEvery = options.statsEvery ?? '2s';
  const killGraceMs = options.killGraceMs ?? 3000;
  const log = options.log;

  async function scriptArg(scripts: string[], allowScripts: string[], custom: CustomScriptRef[], customDir: string): Promise<string | null> {
    const names = parseScriptList(scripts);
    // The same policy as where scripts enter (profiles, investigations): a job handed to an agent is judged again.
    const customNames = new Set(custom.map((c) => c.name));
    enforceScriptPolicy(
      names,
      allowScripts,
      withCustomScripts(
        installedScriptDb(),
        custom.filter((c) => names.includes(c.name)),
      ),
    );
    if (names.length === 0) return null;
    const out: string[] = [];
    for (const name of names) {
      if (customNames.has(name)) {
        const file = path.join(customDir, `${name}.nse`);
        if (file.includes(','))
          throw new PlumError('usage', `the temporary directory "${customDir}" contains a comma`, { hint: 'set TMPDIR to a path without commas' });
        out.push(file);
        continue;
      }
      if (!isProjectScript(name)) {
        out.push(name);
        continue;
      }
      const file = path.join(nseDir, `${name}.nse`);
      if (file.includes(','))
        throw new PlumError('usage', `the NSE directory "${nseDir}" contains a comma`, { hint: 'move the project to a path without commas' });
      try {
        await access(file);
      } catch {
        throw new PlumError('not_found', `project NSE script ${name} not found at ${file}`, {
          hint: 'check that the nse/ directory is shipped next to the code',
        });
      }
      out.push(file);
    }
    return out.join(',');
  }

  async function buildArgs(spec: NmapScanSpec, xmlPath: string): Promise<string[]> {
    if (!spec.targets || spec.targets.length === 0) throw new PlumError('usage', 'nothing to scan: the job has no targets', { hint: 'plan the profile again' });
    for (const t of spec.targets) parseTarget(t); // throws on anything that is not a target
    const tcp = spec.tcpPorts ? normalisePortList(spec.tcpPorts, 'TCP ports') : '';
    const udp = spec.udpPorts ? normalisePortList(spec.udpPorts, 'UDP ports') : '';
    if (!tcp && !udp) throw new PlumError('usage', 'no ports to scan', { hint: 'give TCP or UDP ports' });
    if (udp && !privileged) {
      throw new PlumError('usage', 'UDP scanning needs root privileges', { hint: 'run the scanning agent as root or drop the UDP ports' });
    }
    const extra = validateNmapArgs(spec.extraArgs ?? []);
    const hostTimeout = validateHostTimeout(spec.hostTimeout ?? '40s');
    const scripts = await scriptArg(spec.scripts ?? [], spec.allowScripts ?? [], spec.customScripts ?? [], customScriptDir(xmlPath));
    const portSpec = udp ? [tcp ? `T:${tcp}` : '', `U:${udp}`].filter(Boolean).join(',') : tcp;
    // Defaults of the predecessor's agent (reference §2); extra options come after and may override them.
    return [
      '-T3',
      '--host-timeout',
      hostTimeout,
      '--max-retries',
      '2',
      '--min-hostgroup',
      '256',
      '-Pn',
      ...(tcp ? [privileged ? '-sS' : '-sT'] : []),
      ...(udp ? ['-sU'] : []),
      '-p',
      portSpec,
      '-oX',
      xmlPath,
      '--no-stylesheet',
      '--stats-every',
      statsEvery,
      ...(scripts ? ['--script', scripts] : []),
      ...extra,
      ...(spec.kind === 'ipv6' ? ['-6'] : []),
      '--',
      ...spec.targets,
    ];
  }

  /** Writes the job's custom scripts where buildArgs points nmap, after checking each against its hash. */
  async function materialiseCustomScripts(spec: NmapScanSpec, xmlPath: string): Promise<void> {
    const wanted = (spec.customScripts ?? []).filter((c) => (spec.scripts ?? []).some((s) => s.replace(/\.nse$/, '') === c.name));
    if (wanted.length === 0) return;
    if (!options.scriptSource) {
      throw new PlumError('unavailable', `this runner cannot fetch custom NSE scripts (${wanted.map((c) => c.name).join(', ')})`, {
        hint: 'run the job on a runner with a script source (plum serve, plum worker or plum agent)',
      });
    }
    const dir = customScriptDir(xmlPath);
    await mkdir(dir, { mode: 0o700 });
    for (const ref of wanted) {
      const content = await options.scriptSource(ref);
      const actual = sha256Hex(content);
      if (actual !== ref.sha256) {
        throw new PlumError(
          'unsafe_argument',
          `custom NSE script ${ref.name}: its content has sha256 ${actual.slice(0, 12)}…, the job expects ${ref.sha256.slice(0, 12)}…; refused`,
          {
            hint: 'the script was altered on its way or in the store; check the server and start a new run',
          },
        );
      }
      await writeFile(path.join(dir, `${ref.name}.nse`), content, { mode: 0o600, flag: 'wx' });
    }
  }

  async function runNmap(spec: NmapScanSpec, opts: NmapRunOptions = {}): Promise<NmapRunResult> {
    if (opts.signal?.aborted) throw new PlumError('cancelled', 'scan cancelled before nmap started');
    // mkdtemp creates the directory 0700: the XML and the custom scripts stay private to this user.
    const dir = await mkdtemp(path.join(options.tmpDir ?? os.tmpdir(), 'plum-nmap-'));
    const xmlPath = path.join(dir, 'scan.xml');
    try {
      await materialiseCustomScripts(spec, xmlPath);
      const args = await buildArgs(spec, xmlPath);
      log?.debug({ args }, 'starting nmap');
      const started = Date.now();
      const state: { hostsCompleted?: number; hostsUp?: number; phase?: string } = {};
      const outcome = await runInProcessGroup(nmapPath, args, {
        name: 'nmap',
        log,
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(spec.timeoutMs ? { timeoutMs: spec.timeoutMs } : {}),
        stopSequence: termThenKill(killGraceMs),
        // stdout carries the progress lines, and "QUITTING!" when NSE fails to start: its tail is enough.
        stdout: {
          keep: 'tail',
          limit: 8192,
          onLine: (line) => {
            const p = parseProgressLine(line.trim(), state);
            if (p && opts.onProgress) opts.onProgress(p);
          },
        },
        stderr: { keep: 'head', limit: 65536 },
        notFoundHint: 'install nmap or set PLUM_NMAP to its path',
        startFailure: { code: 'nmap_failed', hint: 'check PLUM_NMAP' },
      });

      const { output: xml, ...run } = await scannerOutputOf(xmlPath, outcome, started, args);
      const result: NmapRunResult = { xml, ...run };
      if (result.interrupted) return result;
      // nmap prints fatal errors on stderr (or stdout for NSE start-up failures) and
      // sometimes exits 0 after "QUITTING!"; both count as failures.
      const quit = /QUITTING!/.test(outcome.stderr) || /QUITTING!/.test(outcome.stdout);
      if (outcome.code !== 0 || quit) {
        const message = nmapMessage(outcome.stderr.trim() ? outcome.stderr : outcome.stdout);
        throw new PlumError('nmap_failed', `nmap failed${outcome.code ? ` (exit ${outcome.code})` : ''}: ${message}`, {
          hint: "check the profile's scripts and nmap options",
          details: { exitCode: outcome.code, stderr: outcome.stderr.slice(0, 4000), args },
        });
      }
      return result;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  return { runNmap, buildArgs, privileged };
}
