/*
 * The history decision for one open port seen by a scan: what happens to the
 * slot's rows and which events it records. Pure: store/ingest-decide.ts applies
 * it (rows, counters) inside its batch.
 *
 * Two levels: the slot (ip, protocol, port) has one state, open or closed, held
 * by its one `current` row (the latest document of the port, whatever view saw
 * it); each view (core/history/view.ts) of the slot has its own head, the
 * latest fingerprint that view saw. A fingerprint is compared only with its
 * view's head: another view seeing the port is a sighting, not a change.
 * appeared/reappeared/gone are slot events; changed is a view event.
 */

export type HistoryEvent = 'appeared' | 'changed' | 'reappeared';

export type SightingAction =
  /** Older than what the slot knows: widen the seen times only (a row for an unknown fingerprint, neither current nor head). */
  | 'historic'
  /** A known fingerprint at a slot without a current row: make it current again. */
  | 'restore'
  /** Nothing known at the slot: a new current row, head of its view. */
  | 'insert'
  /** The slot's current row again: touch it (reopening it if it was closed). */
  | 'touch-current'
  /** A fingerprint this view saw before at this slot becomes current (and its view's head). */
  | 'switch-to-known'
  /** A fingerprint this view never saw at this slot becomes current (and its view's head). */
  | 'switch-to-new';

export interface SightingInput {
  /** The scan is older than the slot's latest check. */
  historic: boolean;
  /** The slot's current row, if any: its fingerprint, whether it is open, and whether it is this view's head. */
  current?: { hsh256: string; open: boolean; viewHead: boolean };
  /** This view's head at the slot (its latest fingerprint), if the view saw the slot before. */
  viewHead?: { hsh256: string };
  /** This fingerprint has a row at this slot in this view already. */
  known: boolean;
  hsh256: string;
}

export interface SightingDecision {
  action: SightingAction;
  /** Events in the order they are recorded (none: stable, a sighting by another view, or historic). */
  events: HistoryEvent[];
}

export function decideSighting(s: SightingInput): SightingDecision {
  if (s.historic) return { action: 'historic', events: [] };
  if (!s.current) return s.known ? { action: 'restore', events: ['reappeared'] } : { action: 'insert', events: ['appeared'] };
  const wasOpen = s.current.open;
  const back: HistoryEvent[] = wasOpen ? [] : ['reappeared'];
  if (s.current.viewHead && s.current.hsh256 === s.hsh256) return { action: 'touch-current', events: back };
  // The port as this view last saw it: unchanged, or never seen by this view (a sighting), is no change.
  if (!s.viewHead || s.viewHead.hsh256 === s.hsh256) {
    return { action: s.known ? 'switch-to-known' : 'switch-to-new', events: back };
  }
  // This view saw another fingerprint last: an open port that flips is a change; a port that had gone and
  // comes back is `reappeared`, and also `changed` when it comes back with a fingerprint it never had here.
  if (s.known) return { action: 'switch-to-known', events: wasOpen ? ['changed'] : ['reappeared'] };
  return { action: 'switch-to-new', events: wasOpen ? ['changed'] : ['reappeared', 'changed'] };
}
