import { PlumError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { parsePortSpec } from '../core/coverage.ts';
import type { Resolver } from '../core/scope.ts';
import type { Scanner, ScannerJob, ScannerOutput, ScannerRunOptions, ScannedResult } from '../core/scanner/contract.ts';
import { normalisePortList } from '../core/profiles.ts';
import { sslscanOptionArgs } from '../core/sslscan/options.ts';
import { readSslscan } from '../core/sslscan/read.ts';
import { runInProcessGroup, termThenKill } from './process-group.ts';
import { bigIntToAddress, isAddressTarget, parseTarget } from '../core/targets.ts';

/*
 * The TLS scanner: Debian's sslscan behind the scanner contract (core/scanner/contract.ts).
 *
 * sslscan tests one host:port at a time and names in its XML only what it was given, so the runner starts
 * one sslscan per (address, port), a few at a time: each run's XML is known to belong to its target, a
 * name is scanned at each of its addresses with the name as SNI, and progress is counted per target.
 * Every run has its own process group; on cancellation or the job's timeout the running groups are killed,
 * targets not started are skipped, and the output keeps everything written so far (a cut-short target is
 * marked interrupted: core/sslscan/read.ts leaves its host's missing ports unknown). The output is the
 * sslscan documents, each in a <target> element of ours (read.ts describes it).
 *
 * Everything reaching sslscan's command line is checked here whatever the caller checked: targets go
 * through core/targets.ts parseTarget, ports through the port parser, options through the allowlist
 * (core/sslscan/options.ts).
 */

/** One (address, port) the runner scans, with the name it was reached by (sent as SNI). */
export interface SslscanPair {
  ip: string;
  protocol: 'tcp' | 'udp';
  port: number;
  name?: string;
}

export interface SslscanJob extends ScannerJob {
  pairs?: SslscanPair[];
}

export interface SslscanRunnerOptions {
  sslscanPath?: string;
  log?: Logger;
  /** sslscan processes at once (default 4). */
  concurrency?: number;
  /** One target's wall-clock limit (default 5 minutes): a stuck target is killed, the others go on. */
  targetTimeoutMs?: number;
  /** Time between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  /** Resolves the names of a job (the scope guard checked them before; ingest drops hosts outside the job). */
  resolve?: Resolver;
}

/** At most this many (address, port) pairs per job: a job is ≤ 256 addresses, a TLS profile lists a few ports. */
export const MAX_SSLSCAN_PAIRS = 4096;

const hostPort = (ip: string, port: number) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
const xmlAttr = (v: string) => v.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
const epoch = (ms: number) => String(Math.floor(ms / 1000));

/** The TCP ports of a job, checked (sslscan speaks TLS over TCP only). */
function tcpPortsOf(job: ScannerJob): number[] {
  if (job.udpPorts && job.udpPorts.trim()) {
    throw new PlumError('usage', 'the TLS scanner scans TCP ports only', { hint: 'drop the UDP ports of the profile' });
  }
  const spec = job.tcpPorts && job.tcpPorts.trim() ? normalisePortList(job.tcpPorts, 'TCP ports') : '';
  const ports = new Set<number>();
  for (const [lo, hi] of parsePortSpec(spec, 'tcp').get('tcp') ?? []) {
    for (let p = Math.max(lo, 1); p <= hi && ports.size <= MAX_SSLSCAN_PAIRS; p++) ports.add(p);
  }
  return [...ports];
}

/** The (address, port) pairs of a job: its `pairs`, or its targets × TCP ports, names resolved. */
export async function sslscanPairs(job: SslscanJob, resolve?: Resolver): Promise<SslscanPair[]> {
  const tooMany = () =>
    new PlumError('usage', `a TLS job covers more than ${MAX_SSLSCAN_PAIRS} address and port pairs`, {
      hint: 'give the TLS profile fewer ports, or plan smaller jobs',
    });
  if (job.pairs && job.pairs.length > 0) {
    if (job.pairs.length > MAX_SSLSCAN_PAIRS) throw tooMany();
    return job.pairs.map((p) => {
      const t = parseTarget(p.ip);
      if (t.kind !== 'ip') throw new PlumError('usage', `"${p.ip}" is not an address`, { hint: 'pairs name one address each' });
      if (p.protocol !== 'tcp' || !Number.isInteger(p.port) || p.port < 1 || p.port > 65535) {
        throw new PlumError('usage', `${p.protocol}/${p.port} is not a TCP port`, { hint: 'the TLS scanner scans TCP ports 1-65535' });
      }
      if (p.name !== undefined && parseTarget(p.name).kind !== 'fqdn')
        throw new PlumError('usage', `"${p.name}" is not a name`, { hint: "a pair's name is the DNS name sent as SNI" });
      return { ip: t.value, protocol: 'tcp' as const, port: p.port, ...(p.name ? { name: p.name } : {}) };
    });
  }
  if (!job.targets || job.targets.length === 0) throw new PlumError('usage', 'nothing to scan: the job has no targets', { hint: 'plan the profile again' });
  const ports = tcpPortsOf(job);
  if (ports.length === 0) throw new PlumError('usage', 'no TCP ports to scan', { hint: 'give the TLS profile TCP ports, e.g. 443,8443' });
  const out: SslscanPair[] = [];
  for (const raw of job.targets) {
    const t = parseTarget(raw); // throws on anything that is not a target
    const addresses: Array<{ ip: string; name?: string }> = [];
    if (isAddressTarget(t)) {
      if (BigInt(out.length) + t.size * BigInt(ports.length) > BigInt(MAX_SSLSCAN_PAIRS)) throw tooMany();
      for (let n = t.first; n <= t.last; n++) addresses.push({ ip: bigIntToAddress(n, t.family) });
    } else {
      if (!resolve)
        throw new PlumError('unavailable', `cannot resolve ${t.value}: this runner has no resolver`, {
          hint: 'scan addresses, or run the job where names resolve',
        });
      for (const ip of await resolve(t.value).catch(() => [])) {
        const checked = parseTarget(ip);
        if (checked.kind === 'ip') addresses.push({ ip: checked.value, name: t.value });
      }
    }
    for (const a of addresses) {
      for (const port of ports) out.push({ ip: a.ip, protocol: 'tcp', port, ...(a.name ? { name: a.name } : {}) });
    }
    if (out.length > MAX_SSLSCAN_PAIRS) throw tooMany();
  }
  return out;
}

/** The arguments of one sslscan run: the job's options, the XML destination, one pair of the job. */
function pairArgs(job: SslscanJob, pair: SslscanPair, outputPath: string): string[] {
  if (outputPath !== '-' && (!outputPath.startsWith('/') || /[\0\n]/.test(outputPath))) {
    throw new PlumError('usage', `sslscan writes its XML to "-" or an absolute path, not "${outputPath}"`, { hint: 'give an absolute path' });
  }
  const t = parseTarget(pair.ip);
  if (t.kind !== 'ip') throw new PlumError('usage', `"${pair.ip}" is not an address`, { hint: 'pairs name one address each' });
  return [
    '--no-colour',
    '--show-certificate',
    ...sslscanOptionArgs(job.options),
    ...(pair.name ? [`--sni-name=${parseTarget(pair.name).value}`] : []),
    `--xml=${outputPath}`,
    hostPort(t.value, pair.port),
  ];
}

interface OneRun {
  xml: string;
  code: number | null;
  stderr: string;
  reason?: 'timeout' | 'cancelled';
  started: number;
  ended: number;
}

export function createSslscanScanner(options: SslscanRunnerOptions = {}): Scanner<SslscanJob> {
  const sslscanPath = options.sslscanPath ?? 'sslscan';
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const killGraceMs = options.killGraceMs ?? 3000;
  const targetTimeoutMs = options.targetTimeoutMs ?? 300_000;
  const log = options.log;

  /**
   * The arguments of the job's sslscan run. sslscan takes one target per run here, so the job must come to
   * exactly one (address, port) pair; `run` calls this for each pair of a larger job.
   */
  async function buildArgs(job: SslscanJob, outputPath: string): Promise<string[]> {
    const pairs = await sslscanPairs(job, options.resolve);
    if (pairs.length !== 1) {
      throw new PlumError('usage', `sslscan runs one address and port at a time; this job has ${pairs.length}`, {
        hint: 'give one pair, or let run() start one sslscan per pair',
      });
    }
    return pairArgs(job, pairs[0]!, outputPath);
  }

  async function runOne(args: string[], signal: AbortSignal): Promise<OneRun> {
    const started = Date.now();
    const one = await runInProcessGroup(sslscanPath, args, {
      name: 'sslscan',
      log,
      signal,
      timeoutMs: targetTimeoutMs,
      stopSequence: termThenKill(killGraceMs),
      stdout: { keep: 'all' },
      stderr: { keep: 'head', limit: 16_384 },
      notFoundHint: 'install sslscan (apt-get install sslscan) or set PLUM_SSLSCAN to its path',
      // A scanner's own failure (retryable: another attempt may start it); nmap's are nmap_failed.
      startFailure: { code: 'scanner_failed', hint: 'check PLUM_SSLSCAN' },
    });
    return { xml: one.stdout, code: one.code, stderr: one.stderr, ...(one.reason ? { reason: one.reason } : {}), started, ended: Date.now() };
  }

  async function run(job: SslscanJob, opts: ScannerRunOptions = {}): Promise<ScannerOutput> {
    if (opts.signal?.aborted) throw new PlumError('cancelled', 'scan cancelled before sslscan started');
    const pairs = await sslscanPairs(job, options.resolve);
    const argsOf = pairs.map((p) => pairArgs(job, p, '-'));
    const started = Date.now();
    const stop = new AbortController();
    let why: 'timeout' | 'cancelled' | undefined;
    const onAbort = () => {
      why ??= 'cancelled';
      stop.abort();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const jobTimer = job.timeoutMs
      ? setTimeout(() => {
          why ??= 'timeout';
          stop.abort();
        }, job.timeoutMs)
      : undefined;
    const parts: string[] = [];
    const errors: string[] = [];
    let next = 0;
    let done = 0;
    let failure: unknown;
    const report = () => {
      try {
        opts.onProgress?.({
          phase: `sslscan ${done}/${pairs.length}`,
          percent: pairs.length ? Math.floor((done / pairs.length) * 100) : 100,
          hostsCompleted: done,
        });
      } catch (e) {
        log?.warn({ err: e }, 'progress callback failed');
      }
    };
    const worker = async () => {
      while (next < pairs.length && !stop.signal.aborted && failure === undefined) {
        const i = next++;
        const pair = pairs[i]!;
        let one: OneRun;
        try {
          one = await runOne(argsOf[i]!, stop.signal);
        } catch (e) {
          failure ??= e;
          stop.abort();
          return;
        }
        const interrupted = one.reason !== undefined || !/<\/document>\s*$/.test(one.xml);
        if (one.code !== 0 && !one.reason) errors.push(`${hostPort(pair.ip, pair.port)}: sslscan exit ${one.code}: ${one.stderr.trim().split('\n')[0] ?? ''}`);
        parts.push(
          `<target address="${pair.ip}" port="${pair.port}"${pair.name ? ` name="${xmlAttr(pair.name)}"` : ''} started="${epoch(one.started)}" ended="${epoch(one.ended)}" exit="${one.code ?? ''}"${interrupted ? ' interrupted="true"' : ''}>\n${one.xml.replace(/^<\?xml[^>]*>\s*/, '')}\n</target>\n`,
        );
        done++;
        report();
      }
    };
    report();
    try {
      await Promise.all(Array.from({ length: Math.min(concurrency, pairs.length) }, worker));
    } finally {
      clearTimeout(jobTimer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
    if (failure !== undefined) throw failure;
    const complete = done === pairs.length && !why;
    const output = `<plum-sslscan version="1" started="${epoch(started)}" ended="${epoch(Date.now())}">\n${parts.join('')}${complete ? '</plum-sslscan>\n' : ''}`;
    const args = argsOf.length === 1 ? argsOf[0]! : [...(argsOf[0] ?? []).slice(0, -1), `(${argsOf.length} targets)`];
    log?.debug({ targets: pairs.length, done, why }, 'sslscan finished');
    return {
      output: Buffer.from(output),
      exitCode: errors.length ? 1 : 0,
      stderr: errors.join('\n'),
      interrupted: !complete,
      ...(why ? { interruptReason: why } : {}),
      durationMs: Date.now() - started,
      args,
    };
  }

  function read(output: Buffer, job: SslscanJob): ScannedResult {
    return readSslscan(output, job);
  }

  return { name: 'sslscan', buildArgs, run, read };
}
