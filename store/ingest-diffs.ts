import { diffFields } from '../core/history/diff.ts';
import { defaultVolatileList } from '../core/nmap/volatile.ts';
import type { SearchFields } from '../core/fields.ts';
import type { StoreSession } from './index.ts';
import type { BatchDecision } from './ingest-decide.ts';
import { PREPARED } from './ingest-read.ts';

/**
 * Fills in what each `changed` event of a batch changed (core/history/diff.ts): the previous row's fields are
 * read for these events only (a batch's read leaves documents in the database), the new ones come from the
 * parsed port. Volatile values are judged with the shipped volatile list, the one fingerprints use.
 */
export async function diffChangedEvents(tx: StoreSession, d: BatchDecision): Promise<void> {
  if (d.changedPorts.size === 0) return;
  const ids = [...new Set([...d.changedPorts.keys()].map((e) => e.previousObservationId!))];
  const rows = await tx.query<{ id: string; fields: SearchFields }>('select id, fields from port_observations where id = any($1::text[])', [ids], PREPARED);
  const previous = new Map(rows.map((r) => [r.id, r.fields]));
  const volatile = defaultVolatileList();
  for (const [event, port] of d.changedPorts) {
    event.changes = diffFields(previous.get(event.previousObservationId!) ?? {}, port.fields, volatile);
  }
}
