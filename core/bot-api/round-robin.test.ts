import { describe, expect, it } from 'vitest';
import { pickPriority, type RoundRobinState } from './round-robin.ts';

function sequence(nonEmpty: number[], n: number, start: RoundRobinState = {}): number[] {
  let state = start;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = pickPriority(state, nonEmpty)!;
    out.push(r.priority);
    state = r.state;
  }
  return out;
}

const counts = (xs: number[]) => xs.reduce<Record<number, number>>((m, x) => ({ ...m, [x]: (m[x] ?? 0) + 1 }), {});

describe('pickPriority (smooth weighted round-robin over priorities)', () => {
  it.each([
    ['every queue busy: 100 picks follow the weights 50:20:15:10:5', [0, 1, 2, 3, 4], 100, { 4: 50, 3: 20, 2: 15, 1: 10, 0: 5 }],
    ['urgent and background only: 50:5', [4, 0], 55, { 4: 50, 0: 5 }],
    ['one queue: always it', [1], 7, { 1: 7 }],
    ['high and normal: 20:15', [3, 2], 35, { 3: 20, 2: 15 }],
  ])('%s', (_what, queues, n, expected) => {
    expect(counts(sequence(queues, n))).toEqual(expected);
  });

  it.each([
    ['smooth: the background queue is not starved behind 10 urgent picks', [4, 0], {}, [4, 4, 4, 4, 4, 0, 4, 4, 4, 4, 4]],
    ['normal and low interleave 15:10', [2, 1], {}, [2, 1, 2, 1, 2]],
    ['a tie goes to the higher priority', [2, 1], { 1: 5 }, [2]],
  ])('%s', (_what, queues, start, expected) => {
    expect(sequence(queues, expected.length, start)).toEqual(expected);
  });

  it("keeps an empty queue's weight, ignores unknown priorities, and gives nothing when every queue is empty", () => {
    expect(pickPriority({ 0: -3 }, [4])).toEqual({ priority: 4, state: { 0: -3, 4: 0 } });
    expect(pickPriority({}, [])).toBeUndefined();
    expect(pickPriority({}, [9])).toBeUndefined();
  });

  it('is pure: the state given is not changed', () => {
    const state = Object.freeze({ 4: 1 });
    expect(() => pickPriority(state, [4, 0])).not.toThrow();
    expect(state).toEqual({ 4: 1 });
  });
});
