/*
 * The history decision for one open port seen by a scan: what happens to the
 * slot's rows and which events it records. Pure: store/ingest.ts applies it
 * (rows, counters) inside its batch.
 */

export type HistoryEvent = 'appeared' | 'changed' | 'reappeared';

export type SightingAction =
  /** Older than what the slot knows: widen the seen times only (a row for an unknown fingerprint, not current). */
  | 'historic'
  /** A known fingerprint at a slot without a current row: make it current again. */
  | 'restore'
  /** Nothing known at the slot: a new current row. */
  | 'insert'
  /** The current fingerprint again: touch it (reopening it if it was closed). */
  | 'touch-current'
  /** Another fingerprint seen before at this slot becomes current. */
  | 'switch-to-known'
  /** A fingerprint never seen at this slot becomes current. */
  | 'switch-to-new';

export interface SightingInput {
  /** The scan is older than the slot's latest check. */
  historic: boolean;
  /** The slot's current row, if any: its fingerprint and whether it is open. */
  current?: { hsh256: string; open: boolean };
  /** This fingerprint has a row at this slot already. */
  known: boolean;
  hsh256: string;
}

export interface SightingDecision {
  action: SightingAction;
  /** Events in the order they are recorded (none: stable, or historic). */
  events: HistoryEvent[];
}

export function decideSighting(s: SightingInput): SightingDecision {
  if (s.historic) return { action: 'historic', events: [] };
  if (!s.current) return s.known ? { action: 'restore', events: ['reappeared'] } : { action: 'insert', events: ['appeared'] };
  if (s.current.hsh256 === s.hsh256) return { action: 'touch-current', events: s.current.open ? [] : ['reappeared'] };
  const wasOpen = s.current.open;
  // An open port flipping to another fingerprint is a change; a port that had gone and comes back is
  // `reappeared`, and also `changed` when it comes back with a fingerprint it never had here.
  if (s.known) return { action: 'switch-to-known', events: wasOpen ? ['changed'] : ['reappeared'] };
  return { action: 'switch-to-new', events: wasOpen ? ['changed'] : ['reappeared', 'changed'] };
}
