import { TypeID } from 'typeid-js';

/**
 * Event ids are typeids over UUIDv7: their order is the order of the
 * millisecond they were made in, so the primary key doubles as a time-ordered
 * cursor and the feed never needs to scan the table by time.
 */

/** The millisecond an `evt_…` id was made in. */
export function eventIdTime(id: string): number {
  const hex = TypeID.fromString(id).toUUID().replace(/-/g, '');
  return parseInt(hex.slice(0, 12), 16);
}

/** The smallest event id made in millisecond `ms` (every id made at or after `ms` sorts after it). */
export function eventIdFloor(ms: number): string {
  const h = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return TypeID.fromUUID('evt', `${h.slice(0, 8)}-${h.slice(8, 12)}-7000-8000-000000000000`).toString();
}
