import { describe, expect, it } from 'vitest';
import { jobScope, planJobs, summarisePlan, type PlanTarget } from './plan.ts';
import { parseProfile } from './profiles.ts';
import { bigIntToAddress, countAddresses, mergeIntervals, parseTarget, subtractIntervals, toInterval, type AddressTarget } from './targets.ts';

const profile = parseProfile({ name: 'p', tcpPorts: '22,80,443', scripts: 'plum-banner', nmapArgs: '-T4' });

describe('planJobs', () => {
  it('packs small ranges together and splits large ones on /24 boundaries', () => {
    const jobs = planJobs(profile, [
      { value: '10.0.0.0/22' },
      { value: '10.1.0.1' },
      { value: '10.1.0.10-10.1.0.19' },
      { value: '10.2.0.250-10.2.1.5' },
      { value: '10.0.1.0/24' }, // overlaps 10.0.0.0/22: scanned once
    ]);
    expect(jobs.map((j) => [j.kind, j.targets, j.addressCount])).toEqual([
      ['ipv4', ['10.0.0.0/24'], 256],
      ['ipv4', ['10.0.1.0/24'], 256],
      ['ipv4', ['10.0.2.0/24'], 256],
      ['ipv4', ['10.0.3.0/24'], 256],
      ['ipv4', ['10.1.0.1', '10.1.0.10-19', '10.2.0.250-255', '10.2.1.0-5'], 23],
    ]);
    expect(jobs.every((j) => j.addressCount <= 256)).toBe(true);
    expect(jobs[0]).toMatchObject({ index: 0, tcpPorts: '22,80,443', scripts: ['plum-banner'], extraArgs: ['-T4'], hostTimeout: '40s', profile: 'p' });
    // Every planned expression is itself a valid target (ingest's JobScope re-parses them).
    for (const j of jobs) for (const t of j.targets) expect(() => parseTarget(t)).not.toThrow();
  });

  it('applies exclusions, labels and name jobs', () => {
    const labelled = parseProfile({ name: 'q', tcpPorts: '80', targets: 'label:dmz' });
    const names = Array.from({ length: 300 }, (_, i) => ({ value: `h${i}.example.org`, labels: ['dmz'] }));
    const jobs = planJobs(labelled, [
      { value: '127.1.0.0/24', labels: ['dmz'] },
      { value: '127.2.0.0/24', labels: ['lan'] },
      { value: '127.1.0.100-127.1.0.199', exclude: true },
      { value: 'h5.example.org', exclude: true },
      ...names,
    ]);
    expect(jobs.map((j) => [j.kind, j.targets.length, j.addressCount])).toEqual([
      ['ipv4', 2, 156],
      ['fqdn', 256, 256],
      ['fqdn', 43, 43],
    ]);
    expect(jobs[0]!.targets).toEqual(['127.1.0.0-99', '127.1.0.200-255']);
    expect(jobs[1]!.targets).not.toContain('h5.example.org');
  });

  it('plans exactly the included minus excluded addresses (random IPv4 cross-check)', () => {
    let seed = 1;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let round = 0; round < 20; round++) {
      const list: PlanTarget[] = [];
      for (let i = 0; i < 40; i++) {
        const a = 0x7f000000 + Math.floor(rand() * 4000);
        const b = a + Math.floor(rand() * (rand() < 0.2 ? 700 : 20));
        const text = `${bigIntToAddress(BigInt(a), 4)}-${bigIntToAddress(BigInt(b), 4)}`;
        list.push({ value: text, exclude: rand() < 0.25 });
      }
      const inc = mergeIntervals(list.filter((t) => !t.exclude).map((t) => toInterval(parseTarget(t.value as string) as AddressTarget)));
      const exc = mergeIntervals(list.filter((t) => t.exclude).map((t) => toInterval(parseTarget(t.value as string) as AddressTarget)));
      const expected = countAddresses(subtractIntervals(inc, exc));
      const jobs = planJobs(profile, list);
      const planned = jobs.flatMap((j) => j.targets.map((t) => toInterval(parseTarget(t) as AddressTarget)));
      expect(BigInt(jobs.reduce((n, j) => n + j.addressCount, 0))).toBe(expected);
      expect(countAddresses(mergeIntervals(planned))).toBe(expected);
      expect(subtractIntervals(mergeIntervals(planned), subtractIntervals(inc, exc))).toEqual([]);
      expect(jobs.every((j) => j.addressCount <= 256)).toBe(true);
    }
  });

  it('covers IPv6 ranges with CIDR blocks', () => {
    const jobs = planJobs(profile, [{ value: '2001:db8::1-2001:db8::8' }]);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ kind: 'ipv6', addressCount: 8, targets: ['2001:db8::1', '2001:db8::2/127', '2001:db8::4/126', '2001:db8::8'] });
  });

  it('summarises jobs, addresses, probes and a duration estimate', () => {
    const jobs = planJobs(profile, [{ value: '10.0.0.0/23' }, { value: 'a.example.org' }]);
    const s = summarisePlan(profile, jobs);
    expect(s).toMatchObject({ profile: 'p', jobs: 3, addresses: 512, names: 1, probes: 513 * 3 });
    expect(s.estimatedSeconds).toBeGreaterThan(0);
    expect(s.worstCaseSeconds).toBeGreaterThanOrEqual(s.estimatedSeconds);
    expect(jobScope(jobs[0]!)).toEqual({ targets: ['10.0.0.0/24'], tcpPorts: '22,80,443' });
  });

  it.each([
    ['1500ms', 5],
    ['90', 93],
    ['90s', 93],
    ['2m', 123],
    ['1.5h', 5403],
  ])("bounds the worst case of one job by its host timeout %s (nmap's time units) plus start-up", (hostTimeout, worst) => {
    const p = parseProfile({ name: 'p', tcpPorts: '22', hostTimeout });
    expect(summarisePlan(p, planJobs(p, [{ value: '10.0.0.1' }])).worstCaseSeconds).toBe(worst);
  });
});
