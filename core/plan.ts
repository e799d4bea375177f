import { nmapTimeMs } from './nmap-args.ts';
import { countPorts, selectsTarget, type ScanProfile } from './profiles.ts';
import {
  bigIntToAddress,
  isAddressTarget,
  mergeIntervals,
  parseTarget,
  subtractIntervals,
  toInterval,
  type AddressFamily,
  type Interval,
  type ParsedTarget,
} from './targets.ts';

/**
 * Planning: a profile plus its targets become jobs of at most 256 addresses
 * (small ranges packed together, large ranges split on /24 boundaries — /120
 * for IPv6) or at most 256 names, with the profile's ports, scripts and
 * options snapshotted so a later profile edit never changes a planned job.
 * Pure and deterministic: the same input always gives the same jobs.
 */
export const MAX_UNITS_PER_JOB = 256;

export interface PlanTarget {
  /** Target text or an already parsed target. */
  value: string | ParsedTarget;
  exclude?: boolean;
  labels?: readonly string[];
}

export type JobKind = 'ipv4' | 'ipv6' | 'fqdn';

export interface PlannedJob {
  index: number;
  kind: JobKind;
  /** nmap target expressions: addresses, CIDRs, IPv4 last-octet ranges (`10.0.0.5-9`), or names. */
  targets: string[];
  /** Scan units: addresses, or 1 per name. */
  addressCount: number;
  tcpPorts: string;
  udpPorts?: string;
  scripts: string[];
  extraArgs: string[];
  hostTimeout: string;
  profile: string;
  priority: number;
}

export interface PlanOptions {
  /** Units per job, 256 unless a test wants smaller jobs. */
  maxPerJob?: number;
}

function toParsed(v: string | ParsedTarget): ParsedTarget {
  return typeof v === 'string' ? parseTarget(v) : v;
}

/** Block size on which large ranges are cut: 256 addresses (/24 in IPv4, /120 in IPv6). */
const BLOCK = 256n;

const v4 = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

/**
 * Union of IPv4 intervals given as separate start and exclusive-end lists.
 * Sorting starts and ends independently (native typed-array sorts) and
 * sweeping a depth counter gives the union without sorting pairs: planning
 * two million single addresses stays well under a second.
 */
function unionV4(starts: number[], ends: number[]): number[] {
  const s = Float64Array.from(starts).sort();
  const e = Float64Array.from(ends).sort();
  const out: number[] = [];
  let i = 0;
  let j = 0;
  let depth = 0;
  let open = 0;
  while (i < s.length) {
    // Starts before ends at the same point, so touching intervals merge.
    if (s[i]! <= e[j]!) {
      if (depth++ === 0) open = s[i]!;
      i++;
    } else {
      if (--depth === 0) out.push(open, e[j]!);
      j++;
    }
  }
  if (depth > 0) out.push(open, e[e.length - 1]!);
  return out;
}

/** a minus b, both flat [start, endExclusive, ...] unions. */
function subtractV4(a: number[], b: number[]): number[] {
  const out: number[] = [];
  let j = 0;
  for (let i = 0; i < a.length; i += 2) {
    let start = a[i]!;
    const end = a[i + 1]!;
    while (j < b.length && b[j + 1]! <= start) j += 2;
    let k = j;
    while (k < b.length && b[k]! < end) {
      if (b[k]! > start) out.push(start, b[k]!);
      start = Math.max(start, b[k + 1]!);
      k += 2;
    }
    if (start < end) out.push(start, end);
  }
  return out;
}

/** nmap expressions for an interval inside one 256-address block. */
function pieceExpressions(first: bigint, last: bigint, family: AddressFamily): string[] {
  const size = last - first + 1n;
  if (size === 1n) return [bigIntToAddress(first, family)];
  if (family === 4) {
    if (size === 256n) return [`${bigIntToAddress(first, 4)}/24`];
    // nmap's octet range syntax: one token for any run inside a /24.
    return [`${bigIntToAddress(first, 4)}-${Number(last & 255n)}`];
  }
  // nmap has no IPv6 ranges: cover with the minimal list of CIDR blocks.
  const out: string[] = [];
  let cur = first;
  while (cur <= last) {
    let bits = 0n;
    while (bits < 8n) {
      const next = bits + 1n;
      const sz = 1n << next;
      if (cur % sz !== 0n || cur + sz - 1n > last) break;
      bits = next;
    }
    out.push(bits === 0n ? bigIntToAddress(cur, 6) : `${bigIntToAddress(cur, 6)}/${128n - bits}`);
    cur += 1n << bits;
  }
  return out;
}

/** Plans the jobs of one profile over the given targets (exclusions apply to every profile). */
export function planJobs(profile: ScanProfile, targets: readonly PlanTarget[], opts: PlanOptions = {}): PlannedJob[] {
  const max = opts.maxPerJob ?? MAX_UNITS_PER_JOB;
  const maxBig = BigInt(max);
  const include: Interval[] = [];
  const exclude: Interval[] = [];
  const inStart: number[] = [];
  const inEnd: number[] = [];
  const exStart: number[] = [];
  const exEnd: number[] = [];
  const names: string[] = [];
  const excludedNames = new Set<string>();
  for (const t of targets) {
    const p = toParsed(t.value);
    if (t.exclude) {
      if (isAddressTarget(p) && p.family === 4) {
        exStart.push(Number(p.first));
        exEnd.push(Number(p.last) + 1);
      } else if (isAddressTarget(p)) exclude.push(toInterval(p));
      else excludedNames.add(p.value);
      continue;
    }
    if (!selectsTarget(profile.targets, t.labels ?? [])) continue;
    if (isAddressTarget(p) && p.family === 4) {
      inStart.push(Number(p.first));
      inEnd.push(Number(p.last) + 1);
    } else if (isAddressTarget(p)) include.push(toInterval(p));
    else names.push(p.value);
  }

  const snapshot = {
    tcpPorts: profile.tcpPorts,
    ...(profile.udpPorts ? { udpPorts: profile.udpPorts } : {}),
    scripts: [...profile.scripts],
    extraArgs: [...profile.nmapArgs],
    hostTimeout: profile.hostTimeout,
    profile: profile.name,
    priority: profile.priority,
  };
  const jobs: PlannedJob[] = [];
  const push = (kind: JobKind, list: string[], count: number) => {
    jobs.push({
      index: jobs.length,
      kind,
      targets: list,
      addressCount: count,
      ...snapshot,
      scripts: [...snapshot.scripts],
      extraArgs: [...snapshot.extraArgs],
    });
  };

  // Overlapping targets are merged here so no address is scanned twice in a cycle.
  // IPv4 runs on plain numbers (the hot path); IPv6 on bigints below.
  {
    const rest = subtractV4(unionV4(inStart, inEnd), unionV4(exStart, exEnd));
    let cur: string[] = [];
    let count = 0;
    const flush = () => {
      if (cur.length > 0) push('ipv4', cur, count);
      cur = [];
      count = 0;
    };
    for (let i = 0; i < rest.length; i += 2) {
      let start = rest[i]!;
      const endEx = rest[i + 1]!;
      while (start < endEx) {
        const blockEnd = start - (start % 256) + 256;
        const end = Math.min(blockEnd, endEx, start + max); // exclusive
        const size = end - start;
        if (count + size > max) flush();
        cur.push(size === 1 ? v4(start) : size === 256 ? `${v4(start)}/24` : `${v4(start)}-${(end - 1) & 255}`);
        count += size;
        start = end;
      }
    }
    flush();
  }
  const intervals = subtractIntervals(mergeIntervals(include), mergeIntervals(exclude));
  let curFamily: AddressFamily | null = null;
  let cur: string[] = [];
  let count = 0n;
  const flush = () => {
    if (cur.length > 0 && curFamily) push(curFamily === 4 ? 'ipv4' : 'ipv6', cur, Number(count));
    cur = [];
    count = 0n;
  };
  for (const iv of intervals) {
    if (curFamily !== iv.family) {
      flush();
      curFamily = iv.family;
    }
    let start = iv.first;
    while (start <= iv.last) {
      const blockEnd = start - (start % BLOCK) + BLOCK - 1n;
      const end = blockEnd < iv.last ? blockEnd : iv.last;
      const size = end - start + 1n;
      if (count + size > maxBig) {
        flush();
        curFamily = iv.family;
      }
      if (size > maxBig) {
        // Only with maxPerJob < 256: cut the piece itself.
        let s = start;
        while (s <= end) {
          const e = s + maxBig - 1n < end ? s + maxBig - 1n : end;
          push(iv.family === 4 ? 'ipv4' : 'ipv6', pieceExpressions(s, e, iv.family), Number(e - s + 1n));
          s = e + 1n;
        }
      } else {
        cur.push(...pieceExpressions(start, end, iv.family));
        count += size;
      }
      start = end + 1n;
    }
  }
  flush();

  const uniqueNames = [...new Set(names)].filter((n) => !excludedNames.has(n)).sort();
  for (let i = 0; i < uniqueNames.length; i += max) {
    const chunk = uniqueNames.slice(i, i + max);
    push('fqdn', chunk, chunk.length);
  }
  return jobs;
}

export interface PlanSummary {
  profile: string;
  jobs: number;
  addresses: number;
  names: number;
  /** Scan units times ports: the number of port probes of one cycle. */
  probes: number;
  /** Rough single-agent duration of one cycle, in seconds. */
  estimatedSeconds: number;
  /** Upper bound if every host hits the host timeout. */
  worstCaseSeconds: number;
}

/**
 * Duration model (deliberately simple, stated in the README): nmap -T3 with
 * --min-hostgroup 256 scans a job's hosts in parallel; a job costs a fixed
 * start-up, about 1/300 s per port probe (filtered ports dominate on real
 * perimeters), and about 2 s per script per name-or-address block; never more
 * than the host timeout plus start-up.
 */
export function summarisePlan(profile: ScanProfile, jobs: readonly PlannedJob[]): PlanSummary {
  const ports = countPorts(profile.tcpPorts) + countPorts(profile.udpPorts);
  const hostTimeout = (nmapTimeMs(profile.hostTimeout) ?? 0) / 1000 || 40;
  let addresses = 0;
  let names = 0;
  let probes = 0;
  let estimated = 0;
  let worst = 0;
  for (const j of jobs) {
    if (j.kind === 'fqdn') names += j.addressCount;
    else addresses += j.addressCount;
    const p = j.addressCount * ports;
    probes += p;
    const groups = Math.ceil(j.addressCount / MAX_UNITS_PER_JOB);
    const est = 3 + p / 300 + 2 * j.scripts.length * groups;
    const cap = 3 + groups * hostTimeout;
    estimated += Math.min(est, cap);
    worst += cap;
  }
  return {
    profile: profile.name,
    jobs: jobs.length,
    addresses,
    names,
    probes,
    estimatedSeconds: Math.round(estimated),
    worstCaseSeconds: Math.round(worst),
  };
}

/** The scope a job's results cover, in the shape ingest expects (store/ingest.ts JobScope). */
export function jobScope(job: Pick<PlannedJob, 'targets' | 'tcpPorts' | 'udpPorts'>): { targets: string[]; tcpPorts: string; udpPorts?: string } {
  return { targets: [...job.targets], tcpPorts: job.tcpPorts, ...(job.udpPorts ? { udpPorts: job.udpPorts } : {}) };
}

/** Human duration: 45s, 12m, 3h 20m, 2d 4h. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.round(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.round((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.round((s % 86400) / 3600)}h`;
}
