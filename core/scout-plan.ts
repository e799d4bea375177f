import { formatPortList } from './profiles.ts';
import { parseTarget, type AddressTarget } from './targets.ts';

/*
 * The nmap stage of a two-stage profile: the (address, port) pairs that answered masscan become nmap jobs.
 * Addresses that answered on the same ports share a job (nmap scans a job's targets × its ports, so a job
 * covers exactly the pairs it was given: the history then declares gone only what nmap looked at). Pure and
 * deterministic: the same pairs always give the same jobs, in address order.
 */

export interface AnsweredPair {
  ip: string;
  port: number;
}

/**
 * Addresses that answered a two-stage run's scouting jobs but get no nmap job: excluded, or no longer declared,
 * since the run was planned (a sweep of a large range takes hours; the perimeter may change meanwhile).
 */
export interface ScanStageDropped {
  count: number;
  /** The first of them in address order, at most 10. */
  addresses: string[];
}

/** What planning the nmap stage stored: the run's job count with the stage's jobs, and what it left out. */
export interface ScanStagePlan {
  jobCount: number;
  addressCount: number;
  dropped?: ScanStageDropped;
}

export interface ScanStageJob {
  targets: string[];
  tcpPorts: string;
  addressCount: number;
}

const addressOrder = (a: AddressTarget, b: AddressTarget) => a.family - b.family || (a.first < b.first ? -1 : a.first > b.first ? 1 : 0);

/** Addresses sorted as the jobs list them (IPv4 first, then by number); each must be a single address. */
export function inAddressOrder(addresses: Iterable<string>): string[] {
  return [...addresses]
    .map((a) => ({ a, t: parseTarget(a) as AddressTarget }))
    .sort((x, y) => addressOrder(x.t, y.t))
    .map((x) => x.a);
}

/** Groups the answered pairs into jobs of at most `maxPerJob` addresses, one port list per job. */
export function planScanStage(pairs: Iterable<AnsweredPair>, maxPerJob: number): ScanStageJob[] {
  const portsByIp = new Map<string, Set<number>>();
  for (const { ip, port } of pairs) {
    const key = parseTarget(ip).value;
    let set = portsByIp.get(key);
    if (!set) portsByIp.set(key, (set = new Set()));
    set.add(port);
  }
  const byPorts = new Map<string, AddressTarget[]>();
  for (const [ip, ports] of portsByIp) {
    const spec = formatPortList([...ports].sort((a, b) => a - b).map((p) => ({ from: p, to: p })));
    const list = byPorts.get(spec) ?? [];
    list.push(parseTarget(ip) as AddressTarget);
    byPorts.set(spec, list);
  }
  const groups = [...byPorts.entries()]
    .map(([tcpPorts, ips]) => ({ tcpPorts, ips: ips.sort(addressOrder) }))
    .sort((a, b) => addressOrder(a.ips[0]!, b.ips[0]!));
  const jobs: ScanStageJob[] = [];
  const size = Math.max(1, Math.trunc(maxPerJob));
  for (const g of groups) {
    for (let i = 0; i < g.ips.length; i += size) {
      const chunk = g.ips.slice(i, i + size).map((t) => t.value);
      jobs.push({ targets: chunk, tcpPorts: g.tcpPorts, addressCount: chunk.length });
    }
  }
  return jobs;
}
