import { TypeID, typeid } from 'typeid-js';

/** Type prefixes of every id Plum hands out, so an id says what it names. */
export type IdPrefix =
  'tgt' | 'prof' | 'run' | 'job' | 'raw' | 'obs' | 'evt' | 'rule' | 'key' | 'agent' | 'inv' | 'rep' | 'hook' | 'dlv' | 'atok' | 'usr' | 'lkey' | 'nse' | 'fire';

/** A sortable (UUIDv7-based) id with a type prefix, e.g. `run_01jd...`. */
export function newId(prefix: IdPrefix): string {
  return typeid(prefix).toString();
}

export function hasPrefix(id: string, prefix: IdPrefix): boolean {
  return id.startsWith(`${prefix}_`);
}

/** When an id was made (its UUIDv7 timestamp); undefined for a string that is not a Plum id. */
export function idTime(id: string): Date | undefined {
  try {
    const hex = TypeID.fromString(id).toUUID().replace(/-/g, '');
    return new Date(parseInt(hex.slice(0, 12), 16));
  } catch {
    return undefined;
  }
}
