import { describe, expect, it } from 'vitest';
import { routeJob, type BridgeRouteInput } from './bridge-route.ts';

const base: BridgeRouteInput = { udp: false, legacyAgents: 2, legacyWaiting: 0, plumAgents: 3 };

describe('routeJob (which queue a job of a bridged run goes to)', () => {
  it.each<[string, Partial<BridgeRouteInput>, 'legacy' | 'scan']>([
    ['an idle predecessor agent takes a TCP job', {}, 'legacy'],
    ['one job waits per predecessor agent, not more', { legacyWaiting: 1 }, 'legacy'],
    ['every predecessor agent has a job waiting: Plum agents take the next', { legacyWaiting: 2 }, 'scan'],
    ['more waiting than agents (agents left): Plum agents', { legacyWaiting: 5 }, 'scan'],
    ['UDP ports: never the predecessor agents (TCP only)', { udp: true }, 'scan'],
    ['UDP ports and no Plum agent: still the scan queue', { udp: true, plumAgents: 0 }, 'scan'],
    ['no predecessor agent seen: the scan queue', { legacyAgents: 0 }, 'scan'],
    ['no predecessor agent and no Plum agent: the scan queue (where jobs wait today)', { legacyAgents: 0, plumAgents: 0 }, 'scan'],
    ['only predecessor agents: every TCP job goes to them, however many wait', { plumAgents: 0, legacyWaiting: 40 }, 'legacy'],
  ])('%s', (_what, over, expected) => {
    expect(routeJob({ ...base, ...over })).toBe(expected);
  });
});
