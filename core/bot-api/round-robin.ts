/*
 * Which priority queue the next legacy-agent job comes from: smooth weighted
 * round-robin over the non-empty queues (docs/migration.md, "Agents"), weights
 * 4 → 50, 3 → 20, 2 → 15, 1 → 10, 0 → 5. Pure: the state (each queue's
 * current weight) goes in and comes out, so the caller keeps it in the
 * database, not in process memory (the predecessor lost it on restart).
 */

export const PRIORITY_WEIGHTS: Readonly<Record<number, number>> = { 4: 50, 3: 20, 2: 15, 1: 10, 0: 5 };

/** Each priority's current weight (absent = 0). */
export type RoundRobinState = Readonly<Record<string, number>>;

/**
 * One pick (nginx's smooth weighted round-robin): every non-empty queue's current
 * weight grows by its weight, the largest is picked (ties: the higher priority)
 * and loses the total. Queues that are empty keep their weight unchanged.
 * Returns undefined when every queue is empty.
 */
export function pickPriority(state: RoundRobinState, nonEmpty: readonly number[]): { priority: number; state: Record<string, number> } | undefined {
  const queues = [...new Set(nonEmpty)].filter((p) => PRIORITY_WEIGHTS[p] !== undefined).sort((a, b) => b - a);
  if (queues.length === 0) return undefined;
  const next: Record<string, number> = { ...state };
  let total = 0;
  let best: number | undefined;
  for (const p of queues) {
    const w = PRIORITY_WEIGHTS[p]!;
    total += w;
    next[p] = (next[p] ?? 0) + w;
    if (best === undefined || next[p]! > next[best]!) best = p;
  }
  next[best!] = next[best!]! - total;
  return { priority: best!, state: next };
}
