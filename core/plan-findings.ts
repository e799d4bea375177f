import { planJobs, type PlannedJob, type PlanOptions, type PlanTarget } from './plan.ts';
import type { ScanProfile } from './profiles.ts';
import { parseTarget } from './targets.ts';

/**
 * The jobs of a triggered run: exactly the (address, protocol, port) of each finding, no more. Addresses that
 * share the same ports go in the same jobs (planJobs cuts and merges them as for any profile, exclusions
 * applied); an address with other ports gets jobs of its own, so no address is scanned on a port it did not fire on.
 */
export interface FindingSlot {
  ip: string;
  protocol: string;
  port: number;
}

export function planFindingJobs(
  profile: ScanProfile,
  slots: readonly FindingSlot[],
  excludes: readonly PlanTarget[] = [],
  opts: PlanOptions = {},
): PlannedJob[] {
  const portsOf = new Map<string, { tcp: Set<number>; udp: Set<number> }>();
  for (const s of slots) {
    const entry = portsOf.get(s.ip) ?? { tcp: new Set<number>(), udp: new Set<number>() };
    (s.protocol === 'udp' ? entry.udp : entry.tcp).add(s.port);
    portsOf.set(s.ip, entry);
  }
  const list = (set: Set<number>) => [...set].sort((a, b) => a - b).join(',');
  const groups = new Map<string, { tcp: string; udp: string; ips: string[] }>();
  for (const [ip, p] of portsOf) {
    const key = `${list(p.tcp)}|${list(p.udp)}`;
    const g = groups.get(key) ?? { tcp: list(p.tcp), udp: list(p.udp), ips: [] };
    g.ips.push(ip);
    groups.set(key, g);
  }
  const jobs: PlannedJob[] = [];
  for (const key of [...groups.keys()].sort()) {
    const g = groups.get(key)!;
    // A UDP-only finding's jobs have no TCP ports (the nmap runner scans UDP alone then).
    const scoped: ScanProfile = { ...profile, tcpPorts: g.tcp, ...(g.udp ? { udpPorts: g.udp } : { udpPorts: undefined }) };
    const targets: PlanTarget[] = [...g.ips.sort().map((ip) => ({ value: parseTarget(ip) })), ...excludes];
    for (const j of planJobs(scoped, targets, opts)) jobs.push({ ...j, index: jobs.length });
  }
  return jobs;
}
