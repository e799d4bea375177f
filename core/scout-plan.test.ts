import { describe, expect, it } from 'vitest';
import { inAddressOrder, planScanStage } from './scout-plan.ts';

describe('planScanStage', () => {
  it('puts addresses that answered on the same ports in one job, in address order', () => {
    const pairs = [
      { ip: '198.18.0.20', port: 80 },
      { ip: '198.18.0.3', port: 22 },
      { ip: '198.18.0.3', port: 80 },
      { ip: '198.18.0.10', port: 80 },
      { ip: '198.18.0.20', port: 22 },
      { ip: '198.18.0.9', port: 443 },
      { ip: '198.18.0.10', port: 80 },
    ];
    expect(planScanStage(pairs, 256)).toEqual([
      { targets: ['198.18.0.3', '198.18.0.20'], tcpPorts: '22,80', addressCount: 2 },
      { targets: ['198.18.0.9'], tcpPorts: '443', addressCount: 1 },
      { targets: ['198.18.0.10'], tcpPorts: '80', addressCount: 1 },
    ]);
  });

  it('cuts a large group at the job size, and plans nothing when nothing answered', () => {
    const pairs = Array.from({ length: 5 }, (_, i) => ({ ip: `198.18.1.${i + 1}`, port: 22 }));
    expect(planScanStage(pairs, 2).map((j) => j.targets)).toEqual([['198.18.1.1', '198.18.1.2'], ['198.18.1.3', '198.18.1.4'], ['198.18.1.5']]);
    expect(planScanStage([], 256)).toEqual([]);
  });
});

describe('inAddressOrder', () => {
  it('sorts by family, then by number, not as text', () => {
    expect(inAddressOrder(['198.18.0.20', '::1', '198.18.0.3', '10.0.0.1', '198.18.0.100'])).toEqual([
      '10.0.0.1',
      '198.18.0.3',
      '198.18.0.20',
      '198.18.0.100',
      '::1',
    ]);
  });
});
