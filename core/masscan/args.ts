import ipaddr from 'ipaddr.js';
import { PlumError } from '../errors.ts';
import { normalisePortList } from '../profiles.ts';
import type { ScannerJob, ScanProgress } from '../scanner/contract.ts';
import { isAddressTarget, parseTarget } from '../targets.ts';

/*
 * masscan's command line, built from a job and the scanner's settings against an allowlist: the targets
 * (addresses, ranges and networks only: masscan resolves no names), the ports, the packet rate (bounded by
 * the deployment's maximum), where the raw packets go (interface, router MAC, source address), how long to
 * wait for late answers, and the output file. Nothing else reaches masscan, whatever the caller checked.
 * Pure: the runner (activities/masscan.ts) spawns it without a shell.
 */

/** Where masscan sends its packets and how fast: the deployment's settings (core/config.ts PLUM_MASSCAN_*). */
export interface MasscanSettings {
  /** Packets per second a job may ask for. */
  maxRate: number;
  /** Network interface masscan sends on (default: masscan's choice, the one of the default route). */
  interface?: string;
  /** MAC address every frame is sent to (default: masscan resolves the router of the default route). */
  routerMac?: string;
  /** Source address of the probes; an unused address of the subnet keeps the kernel from answering the SYN-ACKs. */
  sourceIp?: string;
  /** Seconds to wait for late answers after the last probe (default 5). */
  waitSeconds?: number;
}

/** The options a masscan job may carry (ScannerJob.options): anything else is refused. */
export const MASSCAN_JOB_OPTIONS = ['rate', 'wait'] as const;

export const DEFAULT_MASSCAN_WAIT = 5;
const MAX_WAIT = 60;

const usage = (message: string, hint: string) => new PlumError('usage', message, { hint });

const INTERFACE = /^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}$/;
const MAC = /^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/;

function wholeNumber(v: unknown, what: string, min: number, max: number): number {
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw usage(`masscan ${what} ${String(v)} is not a whole number from ${min} to ${max}`, `give a ${what} from ${min} to ${max}`);
  }
  return n;
}

/** masscan's port list: TCP ports as they are, UDP ports each prefixed `U:`. */
/** A refusal of the input (invalid_input) as the contract's usage error, its message and hint kept. */
function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof PlumError && e.code === 'invalid_input') throw new PlumError('usage', e.message, { hint: e.hint ?? 'check the job', cause: e });
    throw e;
  }
}

function portArg(job: ScannerJob): string {
  const tcp = job.tcpPorts ? asUsage(() => normalisePortList(job.tcpPorts, 'TCP ports')) : '';
  const udp = job.udpPorts
    ? asUsage(() => normalisePortList(job.udpPorts!, 'UDP ports'))
        .split(',')
        .map((p) => `U:${p}`)
        .join(',')
    : '';
  const ports = [tcp, udp].filter(Boolean).join(',');
  if (!ports) throw usage('no ports to scan', 'give the job TCP or UDP ports');
  return ports;
}

/** Each target re-checked and written as masscan reads it (an address, FIRST-LAST or a network). */
export function masscanTargets(targets: readonly string[]): string[] {
  if (targets.length === 0) throw usage('nothing to scan: the job has no targets', 'plan the profile again');
  return targets.map((t) => {
    const p = asUsage(() => parseTarget(t));
    if (!isAddressTarget(p)) {
      throw usage(`masscan scans addresses, not names: "${t}"`, 'names are scanned by nmap; give masscan addresses, ranges or networks');
    }
    return p.value;
  });
}

/** The packet rate of a job: its `rate` option, within the deployment's maximum. */
export function masscanRate(job: ScannerJob, maxRate: number): number {
  const rate = wholeNumber(job.options?.rate ?? maxRate, 'rate', 1, Number.MAX_SAFE_INTEGER);
  if (rate > maxRate) {
    throw usage(
      `masscan rate ${rate} is above this scanner's maximum of ${maxRate} packets per second`,
      "lower the profile's scouting rate, or raise PLUM_MASSCAN_MAX_RATE on the scanner",
    );
  }
  return rate;
}

/** The argument list for `masscan` (spawned without a shell); `outputPath` receives -oX (or -oJ with `format: 'json'`). */
export function buildMasscanArgs(job: ScannerJob, outputPath: string, settings: MasscanSettings, format: 'xml' | 'json' = 'xml'): string[] {
  for (const key of Object.keys(job.options ?? {})) {
    if (!(MASSCAN_JOB_OPTIONS as readonly string[]).includes(key)) {
      throw usage(`masscan option "${key}" is not allowed`, `a masscan job takes only ${MASSCAN_JOB_OPTIONS.join(' and ')}`);
    }
  }
  if (job.pairs?.length) throw usage('masscan scans targets × ports, not (address, port) pairs', 'give the job targets and ports');
  const targets = masscanTargets(job.targets);
  const ports = portArg(job);
  const rate = masscanRate(job, settings.maxRate);
  const wait = wholeNumber(job.options?.wait ?? settings.waitSeconds ?? DEFAULT_MASSCAN_WAIT, 'wait', 0, MAX_WAIT);
  if (!outputPath || outputPath.startsWith('-')) throw usage(`masscan output path "${outputPath}" is not a file path`, 'give an absolute path');
  const args = ['-p', ports, '--rate', String(rate), '--wait', String(wait)];
  if (settings.interface !== undefined) {
    if (!INTERFACE.test(settings.interface))
      throw usage(`"${settings.interface}" is not a network interface name`, 'set PLUM_MASSCAN_INTERFACE to an interface name such as eth0');
    args.push('--interface', settings.interface);
  }
  if (settings.routerMac !== undefined) {
    if (!MAC.test(settings.routerMac)) throw usage(`"${settings.routerMac}" is not a MAC address`, 'set PLUM_MASSCAN_ROUTER_MAC like 02:00:00:00:00:01');
    args.push('--router-mac', settings.routerMac.toLowerCase().replaceAll('-', ':'));
  }
  if (settings.sourceIp !== undefined) {
    if (!ipaddr.isValid(settings.sourceIp) || settings.sourceIp.startsWith('-')) {
      throw usage(`"${settings.sourceIp}" is not an IP address`, "set PLUM_MASSCAN_SOURCE_IP to an unused address of the scanner's subnet");
    }
    args.push('--source-ip', ipaddr.parse(settings.sourceIp).toString());
  }
  // --interactive: each open port is also printed on stdout the moment it is found (the file is buffered and
  // lost if masscan has to be killed; these lines are not).
  args.push(format === 'json' ? '-oJ' : '-oX', outputPath, '--interactive', ...targets);
  return args;
}

/** A port masscan found, as it prints it on stdout with --interactive. */
export interface MasscanDiscovery {
  ip: string;
  protocol: string;
  port: number;
  /** When it was seen (seconds since the epoch). */
  time: number;
}

/**
 * One of masscan's `--interactive` lines on stdout, `Discovered open port 22/tcp on 198.18.0.10`; null for
 * anything else (banner lines included: a scouting scan grabs none).
 */
export function parseMasscanDiscovery(line: string, time: number): MasscanDiscovery | null {
  const m = /^Discovered open port (\d{1,5})\/(tcp|udp|sctp) on (\S+)/.exec(line.trim());
  if (!m || !ipaddr.isValid(m[3]!)) return null;
  const port = Number(m[1]);
  if (port > 65_535) return null;
  return { ip: ipaddr.parse(m[3]!).toString(), protocol: m[2]!, port, time };
}

/** Discoveries written as masscan's own -oD lines, so the reader of its files reads them unchanged. */
export function masscanNdjsonOf(found: readonly MasscanDiscovery[]): string {
  return found
    .map(
      (d) =>
        `${JSON.stringify({
          ip: d.ip,
          timestamp: String(d.time),
          port: d.port,
          proto: d.protocol,
          rec_type: 'status',
          data: { status: 'open', reason: 'syn-ack' },
        })}\n`,
    )
    .join('');
}

/**
 * Discoveries as a whole -oJ document (closing bracket included), for a sweep that ended: masscan was stopped
 * only because it hung past its wait, after every probe was sent and every late answer waited for.
 */
export function masscanJsonOf(found: readonly MasscanDiscovery[]): string {
  const records = found.map(
    (d) =>
      `{   "ip": ${JSON.stringify(d.ip)},   "timestamp": "${d.time}", "ports": [ {"port": ${d.port}, "proto": ${JSON.stringify(d.protocol)}, "status": "open", "reason": "syn-ack"} ] }\n`,
  );
  return `[\n${records.join(',\n')}]\n`;
}

/** A masscan status line: its progress, and how far past its wait for late answers it is. */
export interface MasscanStatus extends ScanProgress {
  /** Seconds past the wait (`waiting -12-secs`: 12): it counts below zero while its receive thread fails to end. */
  overdueSeconds?: number;
}

/**
 * One of masscan's status lines (stderr, each ended by a carriage return):
 *   `rate:  1.99-kpps, 45.20% done,   0:00:12 remaining, found=2`
 *   `rate:  0.00-kpps, 100.00% done, waiting 3-secs, found=4`
 * null for anything else.
 */
export function parseMasscanStatus(line: string): MasscanStatus | null {
  const m = /rate:\s*([\d.]+)-kpps,\s*([\d.]+)% done,\s*(?:(\d+):(\d+):(\d+) remaining|waiting (-?\d+)-secs)/.exec(line);
  if (!m) return null;
  const percent = Math.min(100, Number(m[2]));
  const waiting = m[6] !== undefined;
  const eta = waiting ? Math.max(0, Number(m[6])) : Number(m[3]) * 3600 + Number(m[4]) * 60 + Number(m[5]);
  return {
    phase: waiting ? 'masscan waiting' : 'masscan',
    percent,
    // masscan's first estimate, before any rate is measured, is meaningless (tens of thousands of hours).
    ...(Number(m[1]) > 0 || waiting ? { etaSeconds: eta } : {}),
    ...(waiting && Number(m[6]) < 0 ? { overdueSeconds: -Number(m[6]) } : {}),
  };
}
