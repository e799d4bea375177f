import { describe, expect, it } from 'vitest';
import { changeCountsOf, noChanges } from './counts.ts';

describe('change counters', () => {
  it('takes the counters alone out of a larger record', () => {
    const summary = { runId: 'run_1', hosts: 3, hostsUp: 2, ports: 5, appeared: 1, changed: 2, gone: 3, reappeared: 4, stable: 9, errors: ['x'] };
    expect(changeCountsOf(summary)).toEqual({ hosts: 3, hostsUp: 2, ports: 5, appeared: 1, changed: 2, gone: 3, reappeared: 4 });
  });

  it('starts every counter at zero, in a fresh object each time', () => {
    const a = noChanges();
    a.hosts = 7;
    expect(noChanges()).toEqual({ hosts: 0, hostsUp: 0, ports: 0, appeared: 0, changed: 0, gone: 0, reappeared: 0 });
  });
});
