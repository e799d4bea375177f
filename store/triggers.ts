import { sql } from 'drizzle-orm';
import { newId } from '../core/ids.ts';
import type { QueryNode } from '../core/query/ast.ts';
import { parseQuery } from '../core/query/parse.ts';
import type { StoreSession } from './index.ts';
import type { StoredEvent } from './ingest-types.ts';
import { compileWhere, observationsFrom } from './search/compile.ts';

/*
 * Trigger profiles, the matching half: after an ingest batch has written its observations, the queries of the
 * enabled trigger profiles are evaluated against the observations that batch made new (appeared, changed,
 * reappeared, and a fingerprint a view sees for the first time: nmap's document of a port a two-stage run's
 * masscan stage found is a first sighting in nmap's view, with no event, and it is the one with titles and
 * banners) — compiled by the search compiler and restricted to those ids, never a scan of the table — and each
 * match is recorded as a firing (store/schema/trigger-firings.ts).
 *
 * When: inside the batch's own transaction, before it commits. A firing is then stored if and only if the
 * observation that caused it is: a crash between the ingest and the firing cannot drop one (there is no "between"),
 * and a retried batch (deadlock, serialisation) records its firings again with it. The cost is one query per
 * trigger profile per batch that has new observations, only when trigger profiles exist.
 *
 * Scope is not judged here: the perimeter may name hosts whose addresses need DNS, which has no place in an ingest
 * transaction. The dispatcher checks each firing's address with the scope guard before any run is planned.
 */

export interface TriggerProfile {
  id: string;
  name: string;
  query: string;
  tree: QueryNode;
}

const NEW_EVENTS = new Set(['appeared', 'changed', 'reappeared']);

/**
 * The enabled trigger profiles an ingest of this run evaluates, read once per ingest. None for a run of kind
 * `trigger`: what a triggered scan finds never fires another (no chains, no loops of a profile firing itself).
 */
export async function loadTriggers(store: StoreSession, runId: string): Promise<TriggerProfile[]> {
  const rows = await store.query<{ id: string; name: string; trigger: string; kind: string | null }>(
    `select p.id, p.name, p.trigger, (select kind from runs where id = $1) as kind
     from scan_profiles p where p.trigger is not null and p.enabled order by p.name`,
    [runId],
  );
  if (rows.length === 0 || rows[0]!.kind === 'trigger') return [];
  const out: TriggerProfile[] = [];
  for (const r of rows) {
    try {
      out.push({ id: r.id, name: r.name, query: r.trigger, tree: parseQuery(r.trigger) });
    } catch {
      // Refused when saved (core/profiles.ts parseTrigger): only a hand-edited row gets here, and it fires nothing.
    }
  }
  return out;
}

/** The observation ids a batch made new (its new-state events' and the rows it inserted): what trigger queries are evaluated against. */
export function newObservationIds(events: readonly Pick<StoredEvent, 'type' | 'observationId'>[], inserted: readonly string[] = []): string[] {
  return [...new Set([...events.filter((e) => NEW_EVENTS.has(e.type)).map((e) => e.observationId), ...inserted])];
}

/**
 * Records the firings of one batch, in its transaction: for each trigger profile, the batch's new observations
 * that are current, open and match its query. A fingerprint already fired for the profile is left alone
 * (unique per profile, ip, protocol, port, hsh256). Returns the number of new firings.
 */
export async function recordFirings(
  tx: StoreSession,
  triggers: readonly TriggerProfile[],
  batch: { events: readonly StoredEvent[]; inserted: readonly string[] },
  now: Date,
): Promise<number> {
  if (triggers.length === 0) return 0;
  const ids = newObservationIds(batch.events, batch.inserted);
  if (ids.length === 0) return 0;
  let fired = 0;
  for (const t of triggers) {
    const matches = await tx.query<{ id: string; ip: string; protocol: string; port: number; hsh256: string }>(sql`
      select po.id, host(po.ip) as ip, po.protocol, po.port, po.hsh256 from ${observationsFrom('po')}
      where po.id in (select jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb)) and po.current and po.state = 'open' and ${compileWhere(t.tree, { now })}`);
    if (matches.length === 0) continue;
    const rows = matches.map((m) => ({ id: newId('fire'), ip: m.ip, protocol: m.protocol, port: m.port, hsh256: m.hsh256, observation_id: m.id }));
    const inserted = await tx.query<{ id: string }>(
      `insert into trigger_firings (id, profile_id, ip, protocol, port, hsh256, observation_id, query, fired_at)
       select x.id, $2, x.ip::inet, x.protocol, x.port, x.hsh256, x.observation_id, $3, $4
       from jsonb_to_recordset($1::jsonb) as x(id text, ip text, protocol text, port int, hsh256 text, observation_id text)
       on conflict (profile_id, ip, protocol, port, hsh256) do nothing
       returning id`,
      [JSON.stringify(rows), t.id, t.query, now.toISOString()],
    );
    fired += inserted.length;
  }
  return fired;
}
