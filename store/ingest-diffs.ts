import { diffFields, diffScripts, scriptOutputs, type ScriptOutput } from '../core/history/diff.ts';
import { defaultVolatileList } from '../core/nmap/volatile.ts';
import type { SearchFields } from '../core/fields.ts';
import type { StoreSession } from './index.ts';
import type { BatchDecision } from './ingest-decide.ts';
import { PREPARED } from './ingest-read.ts';

/**
 * Fills in what each `changed` event of a batch changed (core/history/diff.ts): the previous row's fields are
 * read for these events only (a batch's read leaves documents in the database), the new ones come from the
 * parsed port. Volatile values are judged with the shipped volatile list, the one fingerprints use.
 * A change no listed field shows (a new SSH host key, a custom script's output) is described by its scripts'
 * outputs: the previous rows' outputs (only id and output of each script, not their tables) are read then, for
 * those events only.
 */
export async function diffChangedEvents(tx: StoreSession, d: BatchDecision): Promise<void> {
  if (d.changedPorts.size === 0) return;
  const ids = [...new Set([...d.changedPorts.keys()].map((e) => e.previousObservationId!))];
  const rows = await tx.query<{ id: string; fields: SearchFields }>('select id, fields from port_observations where id = any($1::text[])', [ids], PREPARED);
  const previous = new Map(rows.map((r) => [r.id, r.fields]));
  const volatile = defaultVolatileList();
  const unexplained: typeof d.changedPorts = new Map();
  for (const [event, port] of d.changedPorts) {
    event.changes = diffFields(previous.get(event.previousObservationId!) ?? {}, port.fields, volatile);
    if (event.changes.length === 0) unexplained.set(event, port);
  }
  if (unexplained.size === 0) return;
  const scriptIds = [...new Set([...unexplained.keys()].map((e) => e.previousObservationId!))];
  const scriptRows = await tx.query<{ id: string; scripts: ScriptOutput[] | null }>(
    `select o.id, (select jsonb_agg(jsonb_build_object('id', s->'id', 'output', s->'output'))
       from jsonb_array_elements(case when jsonb_typeof(o.doc->'scripts') = 'array' then o.doc->'scripts' else '[]'::jsonb end) s) as scripts
     from port_observations o where o.id = any($1::text[])`,
    [scriptIds],
    PREPARED,
  );
  const previousScripts = new Map(scriptRows.map((r) => [r.id, scriptOutputs({ scripts: r.scripts })]));
  for (const [event, port] of unexplained) {
    event.changes = diffScripts(previousScripts.get(event.previousObservationId!) ?? [], scriptOutputs(port.doc), volatile);
  }
}
