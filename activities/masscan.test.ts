import { describe, expect, it } from 'vitest';
import { masscanProbes } from './masscan.ts';

describe('masscanProbes: the packets a scouting job sends (one per address and port)', () => {
  it.each([
    ['one address, one port', { targets: ['198.18.0.1'], tcpPorts: '22' }, 1],
    ['a /28 on three ports', { targets: ['198.18.0.0/28'], tcpPorts: '22,80,443' }, 48],
    ['a range and a port range', { targets: ['198.18.0.8-15'], tcpPorts: '8000-8009' }, 80],
    ['overlapping targets counted once', { targets: ['198.18.0.0/30', '198.18.0.2-5'], tcpPorts: '22' }, 6],
    ['TCP and UDP ports', { targets: ['198.18.0.0/31'], tcpPorts: '22,80', udpPorts: '53' }, 6],
    ['names are not swept', { targets: ['www.example.org', '198.18.0.1'], tcpPorts: '22' }, 1],
  ])('%s', (_what, job, expected) => {
    expect(masscanProbes(job)).toBe(expected);
  });
});
