import { describe, expect, it } from 'vitest';
import { hostAnswered, type HostEvidence } from './answered.ts';

const up = (x: Partial<HostEvidence> = {}): HostEvidence => ({ status: 'up', timedOut: false, ports: [], ...x });
const filtered = (reason: string) => ({ state: 'filtered', reasons: [reason] });

describe('hostAnswered: whether a scan saw the host answer (and may record `gone`)', () => {
  it.each<[string, HostEvidence, boolean]>([
    ['up by a ping reply', up({ statusReason: 'echo-reply' }), true],
    ['up by a reset to a discovery probe', up({ statusReason: 'reset' }), true],
    ['up without a reason (masscan, predecessor documents)', up(), true],
    ['down', up({ status: 'down', statusReason: 'no-response' }), false],
    ['unknown status', up({ status: 'unknown' }), false],
    ['timed out, even with a ping reply', up({ statusReason: 'echo-reply', timedOut: true }), false],
    ['-Pn, nothing listed', up({ statusReason: 'user-set' }), false],
    ['-Pn, every port filtered without reply', up({ statusReason: 'user-set', extraPorts: [filtered('no-responses')] }), false],
    ['-Pn, listed ports filtered', up({ statusReason: 'user-set', ports: [{ state: 'filtered' }, { state: 'open|filtered' }] }), false],
    [
      '-Pn, ports refused by a router on the way',
      up({ statusReason: 'user-set', extraPorts: [filtered('host-unreaches'), filtered('admin-prohibiteds')] }),
      false,
    ],
    ['-Pn, an open port', up({ statusReason: 'user-set', ports: [{ state: 'filtered' }, { state: 'open' }] }), true],
    ['-Pn, a closed port', up({ statusReason: 'user-set', ports: [{ state: 'closed' }] }), true],
    ['-Pn, an unfiltered port (ACK scan)', up({ statusReason: 'user-set', ports: [{ state: 'unfiltered' }] }), true],
    ['-Pn, closed extraports', up({ statusReason: 'user-set', extraPorts: [{ state: 'closed', reasons: ['resets'] }] }), true],
    [
      '-Pn, filtered extraports, some replied with port-unreach',
      up({ statusReason: 'user-set', extraPorts: [{ state: 'filtered', reasons: ['no-responses', 'port-unreaches'] }] }),
      true,
    ],
    ['-Pn, a singular reply reason', up({ statusReason: 'user-set', extraPorts: [filtered('conn-refused')] }), true],
    ['-Pn, an open port but timed out', up({ statusReason: 'user-set', timedOut: true, ports: [{ state: 'open' }] }), false],
  ])('%s', (_name, host, expected) => {
    expect(hostAnswered(host)).toBe(expected);
  });
});
