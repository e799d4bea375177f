import { describe, expect, it } from 'vitest';
import { planFindingJobs } from './plan-findings.ts';
import { parseProfile } from './profiles.ts';
import { parseTarget } from './targets.ts';

const profile = parseProfile({ name: 'listing', trigger: 'http_title.lk:"index of"', scripts: 'http-ls', nmapArgs: '-sV', priority: 3 });
const shape = (jobs: ReturnType<typeof planFindingJobs>) => jobs.map((j) => [j.index, j.targets, j.tcpPorts, j.udpPorts ?? null]);

describe('planFindingJobs: exactly the fired (address, port) pairs', () => {
  it.each([
    ['one finding', [{ ip: '127.0.0.1', protocol: 'tcp', port: 8080 }], [[0, ['127.0.0.1'], '8080', null]]],
    [
      'addresses sharing a port share a job',
      [
        { ip: '127.0.0.2', protocol: 'tcp', port: 80 },
        { ip: '127.0.0.1', protocol: 'tcp', port: 80 },
      ],
      [[0, ['127.0.0.1-2'], '80', null]],
    ],
    [
      'an address with other ports gets its own job',
      [
        { ip: '127.0.0.1', protocol: 'tcp', port: 80 },
        { ip: '127.0.0.1', protocol: 'tcp', port: 8080 },
        { ip: '127.0.0.5', protocol: 'tcp', port: 80 },
      ],
      [
        [0, ['127.0.0.1'], '80,8080', null],
        [1, ['127.0.0.5'], '80', null],
      ],
    ],
    ['udp findings scan udp only', [{ ip: '127.0.0.1', protocol: 'udp', port: 161 }], [[0, ['127.0.0.1'], '', '161']]],
  ] as const)('%s', (_what, slots, expected) => {
    expect(shape(planFindingJobs(profile, slots))).toEqual(expected);
  });

  it("keeps the profile's scripts, options and priority, and applies exclusions", () => {
    const jobs = planFindingJobs(
      profile,
      [
        { ip: '127.0.0.1', protocol: 'tcp', port: 80 },
        { ip: '127.0.0.7', protocol: 'tcp', port: 80 },
      ],
      [{ value: parseTarget('127.0.0.7'), exclude: true }],
    );
    expect(shape(jobs)).toEqual([[0, ['127.0.0.1'], '80', null]]);
    expect(jobs[0]).toMatchObject({ scripts: ['http-ls'], extraArgs: ['-sV'], priority: 3, profile: 'listing' });
  });

  it('cuts many addresses into jobs of the given size', () => {
    const slots = Array.from({ length: 5 }, (_, i) => ({ ip: `127.0.${i}.1`, protocol: 'tcp', port: 443 }));
    expect(planFindingJobs(profile, slots, [], { maxPerJob: 2 }).map((j) => j.addressCount)).toEqual([2, 2, 1]);
  });
});
