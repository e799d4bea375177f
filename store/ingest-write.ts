import type { StoreSession } from './index.ts';
import type { TableWrites } from './maintenance.ts';
import type { BatchDecision, UpdateRow } from './ingest-decide.ts';
import { PREPARED, type BatchCtx } from './ingest-read.ts';
import { SYNC_COPIES_FROM_X, withJudgementsSynced } from './repos/judgements.ts';

/*
 * A batch's writes: what the decision (store/ingest-decide.ts) settled, in a few set-based statements.
 */

/**
 * Writes a batch's decision; returns the rows written per table (for store/maintenance.ts). The statements that
 * insert or update documents write the narrow copies of tags and score themselves, with the row triggers
 * standing aside; a batch with neither (most of a stable pass) sets no flag.
 */
export function writeBatch(tx: StoreSession, d: BatchDecision, ctx: BatchCtx, fastCount: number): Promise<Required<TableWrites>> {
  const write = () => writeDecision(tx, d, ctx, fastCount);
  return d.inserts.length > 0 || d.updates.size > 0 ? withJudgementsSynced(tx, write) : write();
}

async function writeDecision(tx: StoreSession, d: BatchDecision, ctx: BatchCtx, fastCount: number): Promise<Required<TableWrites>> {
  const { runId, jobId } = ctx;
  const { inserts, updates, original, demote, demoteHeads, events } = d;
  if (demote.size > 0 || demoteHeads.size > 0) {
    // First drop `current` and `view_head` so the one-current-row-per-slot and one-head-per-view indexes accept
    // the new ones.
    await tx.query(
      `update port_observations set current = current and not (id = any($1::text[])),
         view_head = view_head and not (id = any($2::text[]))
       where id = any($1::text[]) or id = any($2::text[])`,
      [[...demote], [...demoteHeads]],
      PREPARED,
    );
  }
  // Rows written per table, for the maintenance of databases without autovacuum (store/maintenance.ts).
  const writes = { observation_sightings: fastCount, port_observations: new Set([...demote, ...demoteHeads]).size, observation_events: events.length };
  if (updates.size > 0) {
    // Two narrow writes instead of one wide one: what a sighting moves (last seen, times, checked, last run/job)
    // goes to observation_sightings; the document row is rewritten only for the few updates that change it
    // (first_seen of an older scan, state, current, names, tags, score). A stable pass thus never touches
    // port_observations and its search indexes (see store/schema/observation-sightings.ts).
    const sightings: UpdateRow[] = [];
    const docs: UpdateRow[] = [];
    for (const u of updates.values()) {
      const o = original.get(u.id)!;
      if (u.seen || u.checked_at !== o.checkedAt) sightings.push(u);
      // Compared with the row as the demotion above left it: a row that only stopped being current or its view's
      // head (the previous fingerprint of each changed port) is not rewritten a second time.
      if (
        u.first_seen !== o.firstSeen ||
        u.state !== o.state ||
        u.current !== (o.current && !demote.has(u.id)) ||
        u.view_head !== (o.viewHead && !demoteHeads.has(u.id)) ||
        u.state_changed_at !== null ||
        u.hostnames !== null ||
        u.tags !== null ||
        u.rules !== null ||
        u.score !== null
      )
        docs.push(u);
    }
    writes.observation_sightings += sightings.length;
    writes.port_observations += docs.length;
    if (sightings.length > 0) {
      // Times and flags travel as text[] (drizzle hands timestamp and boolean arrays to postgres.js unserialised).
      await tx.query(
        `update observation_sightings s set last_seen = x.last_seen, times_seen = x.times_seen, checked_at = x.checked_at,
           last_run_id = case when x.seen then $6 else s.last_run_id end,
           last_job_id = case when x.seen then $7 else s.last_job_id end
         from unnest($1::text[], $2::text[]::timestamptz[], $3::int[], $4::text[]::timestamptz[], $5::text[]::bool[])
           as x(id, last_seen, times_seen, checked_at, seen)
         where s.id = x.id`,
        [
          sightings.map((u) => u.id),
          sightings.map((u) => u.last_seen),
          sightings.map((u) => u.times_seen),
          sightings.map((u) => u.checked_at),
          sightings.map((u) => (u.seen ? 't' : 'f')),
          runId,
          jobId,
        ],
        PREPARED,
      );
    }
    if (docs.length > 0) {
      // With the documents' tags and scores, their narrow copies where the update carries them.
      await tx.query(
        `with x as materialized (select * from jsonb_to_recordset($1::jsonb) as x(id text, first_seen timestamptz, state text,
           state_changed_at timestamptz, current boolean, view_head boolean, hostnames text[], tags text[], rules text[],
           score int, score_features jsonb)),
         wide as (update port_observations o set
           first_seen = x.first_seen, state = x.state, state_changed_at = coalesce(x.state_changed_at, o.state_changed_at),
           current = x.current, view_head = x.view_head, hostnames = coalesce(x.hostnames, o.hostnames),
           tags = coalesce(x.tags, o.tags), rules = coalesce(x.rules, o.rules), score = coalesce(x.score, o.score),
           score_features = coalesce(x.score_features, o.score_features)
           from x where o.id = x.id),
         ${SYNC_COPIES_FROM_X}`,
        [
          JSON.stringify(
            docs.map((u) => ({
              id: u.id,
              first_seen: u.first_seen,
              state: u.state,
              state_changed_at: u.state_changed_at,
              current: u.current,
              view_head: u.view_head,
              hostnames: u.hostnames,
              tags: u.tags,
              rules: u.rules,
              score: u.score,
              score_features: u.score_features,
            })),
          ),
        ],
        PREPARED,
      );
    }
  }
  if (inserts.length > 0) {
    writes.observation_sightings += inserts.length;
    writes.port_observations += inserts.length;
    // One statement writes the new documents, their narrow copies of tags and score, and their sightings.
    await tx.query(
      `with x as materialized (select * from jsonb_to_recordset($1::jsonb) as x(id text, ip inet, protocol text, port int,
         hsh256 text, fp_version int, view text, first_seen timestamptz, last_seen timestamptz, checked_at timestamptz,
         state_changed_at timestamptz, current boolean, view_head boolean, doc jsonb, fields jsonb, hostnames text[],
         tags text[], rules text[], score int, score_features jsonb)),
       wide as (insert into port_observations (id, ip, protocol, port, hsh256, fp_version, view, first_seen,
           state, current, view_head, state_changed_at, doc, fields, hostnames, tags, rules, score, score_features)
         select x.id, x.ip, x.protocol, x.port, x.hsh256, x.fp_version, x.view, x.first_seen, 'open', x.current, x.view_head,
           x.state_changed_at, x.doc, x.fields, x.hostnames, x.tags, x.rules, x.score, x.score_features from x),
       tagged as (insert into observation_tags (id, tags) select x.id, x.tags from x where cardinality(x.tags) > 0),
       scored as (insert into observation_scores (id, score, ip, port) select x.id, x.score, x.ip, x.port from x)
       insert into observation_sightings (id, last_seen, times_seen, checked_at, last_run_id, last_job_id)
       select x.id, x.last_seen, 1, x.checked_at, $2, $3 from x`,
      [JSON.stringify(inserts), runId, jobId],
      PREPARED,
    );
  }
  if (events.length > 0) {
    await tx.query(
      `insert into observation_events (id, type, ip, protocol, port, at, hsh256, previous_hsh256, observation_id,
         previous_observation_id, run_id, job_id, changes)
       select x.id, x.type, x.ip, x.protocol, x.port, x.at, x.hsh256, x."previousHsh256", x."observationId",
         x."previousObservationId", $2, $3, x.changes
       from jsonb_to_recordset($1::jsonb) as x(id text, type text, ip inet, protocol text, port int, at timestamptz,
         hsh256 text, "previousHsh256" text, "observationId" text, "previousObservationId" text, changes jsonb)`,
      [JSON.stringify(events), runId, jobId],
      PREPARED,
    );
  }
  return writes;
}
