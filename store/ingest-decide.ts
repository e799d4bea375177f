import type { SearchFields } from '../core/fields.ts';
import { hostAnswered } from '../core/history/answered.ts';
import { decideSighting } from '../core/history/decide.ts';
import { newId } from '../core/ids.ts';
import type { IngestPort, IngestSummary, StoredEvent, StoredObservation } from './ingest-types.ts';
import { OPEN, slotKey, type BatchCtx, type BatchRead, type ExistingRow } from './ingest-read.ts';
import type { EventType } from './schema/observation-events.ts';

/*
 * A batch's decision: for each host, each open port's sighting (core/history/decide.ts) and the `gone` of the
 * ports it no longer shows, as rows to insert, rows to update and events. No I/O: store/ingest-write.ts writes it.
 */

/**
 * A StoredObservation that reads its fields from the parsed port only when a
 * consumer does (a getter): a parse with fields on demand (core/nmap/types.ts
 * `fieldsOnDemand`) extracts them then, so a stable sighting nobody indexes
 * never pays for them.
 */
class PortObservation implements StoredObservation {
  readonly protocol: string;
  readonly port: number;
  readonly hsh256: string;
  readonly #parsed: IngestPort;
  constructor(
    readonly id: string,
    readonly ip: string,
    readonly view: string,
    parsed: IngestPort,
    readonly state: 'open' | 'closed',
    readonly firstSeen: string,
    readonly lastSeen: string,
    readonly tags: string[],
    readonly score: number,
    readonly settled?: { previousSeen: string; scoreTimed: boolean | null },
  ) {
    this.protocol = parsed.protocol;
    this.port = parsed.port;
    this.hsh256 = parsed.hsh256;
    this.#parsed = parsed;
  }

  get fields(): SearchFields {
    return this.#parsed.fields;
  }
}

export interface InsertRow {
  id: string;
  ip: string;
  protocol: string;
  port: number;
  hsh256: string;
  fp_version: number;
  view: string;
  first_seen: string;
  last_seen: string;
  checked_at: string;
  state_changed_at: string;
  current: boolean;
  view_head: boolean;
  doc: object;
  fields: SearchFields;
  hostnames: string[];
  tags: string[];
  rules: string[];
  score: number;
  score_features: Record<string, unknown> | null;
}
export interface UpdateRow {
  id: string;
  first_seen: string;
  last_seen: string;
  times_seen: number;
  checked_at: string;
  state: 'open' | 'closed';
  state_changed_at: string | null;
  current: boolean;
  view_head: boolean;
  seen: boolean;
  hostnames: string[] | null;
  tags: string[] | null;
  rules: string[] | null;
  score: number | null;
  score_features: Record<string, unknown> | null;
}

/** What a batch decided to write. */
export interface BatchDecision {
  inserts: InsertRow[];
  updates: Map<string, UpdateRow>;
  /** Each updated row's values as read, to tell the sightings write from the document write. */
  original: Map<string, { state: string; current: boolean; viewHead: boolean; firstSeen: string; checkedAt: string }>;
  /** Rows that stop being current, and rows that stop being their view's head: cleared before the new ones are set. */
  demote: Set<string>;
  demoteHeads: Set<string>;
  events: StoredEvent[];
  /** Each `changed` event's new port: its fields are diffed with the previous row's (store/ingest-diffs.ts). */
  changedPorts: Map<StoredEvent, IngestPort>;
  observations: StoredObservation[];
}

const sameList = (a: readonly string[] | null | undefined, b: readonly string[]) => (a ?? []).length === b.length && b.every((v, i) => a![i] === v);

/** Decides every sighting and `gone` of a batch from what readBatch read; counts them in `summary`. */
export function decideBatch({ plans, existing }: BatchRead, ctx: BatchCtx, summary: IngestSummary): BatchDecision {
  const { jobId, deps } = ctx;
  const view = ctx.view;
  const currentBySlot = new Map<string, ExistingRow>();
  /** This view's rows by slot and fingerprint, and its head at each slot. */
  const byFingerprint = new Map<string, ExistingRow>();
  const headBySlot = new Map<string, ExistingRow>();
  const currentOpenByIp = new Map<string, ExistingRow[]>();
  for (const r of existing) {
    const slot = slotKey(r.ip, r.protocol, r.port);
    if (r.view === view) {
      byFingerprint.set(`${slot}#${r.hsh256}`, r);
      if (r.view_head) headBySlot.set(slot, r);
    }
    if (r.current) {
      currentBySlot.set(slot, r);
      if (r.state === OPEN) {
        if (!currentOpenByIp.has(r.ip)) currentOpenByIp.set(r.ip, []);
        currentOpenByIp.get(r.ip)!.push(r);
      }
    }
  }

  const inserts: InsertRow[] = [];
  const updates = new Map<string, UpdateRow>();
  const demote = new Set<string>();
  const demoteHeads = new Set<string>();
  const events: StoredEvent[] = [];
  const changedPorts = new Map<StoredEvent, IngestPort>();
  const observations: StoredObservation[] = [];

  const original: BatchDecision['original'] = new Map();
  const updateOf = (r: ExistingRow): UpdateRow => {
    let u = updates.get(r.id);
    if (!u) {
      const firstSeen = r.first_seen.toISOString();
      const checkedAt = r.checked_at.toISOString();
      original.set(r.id, { state: r.state, current: r.current, viewHead: r.view_head, firstSeen, checkedAt });
      u = {
        id: r.id,
        first_seen: firstSeen,
        last_seen: r.last_seen.toISOString(),
        times_seen: r.times_seen,
        checked_at: checkedAt,
        state: r.state,
        state_changed_at: null,
        current: r.current,
        view_head: r.view_head,
        seen: false,
        hostnames: null,
        tags: null,
        rules: null,
        score: null,
        score_features: null,
      };
      updates.set(r.id, u);
    }
    return u;
  };
  const event = (
    type: EventType,
    ip: string,
    protocol: string,
    port: number,
    at: Date,
    hsh256: string,
    observationId: string,
    prev?: ExistingRow,
    parsed?: IngestPort,
  ) => {
    const e: StoredEvent = {
      id: newId('evt'),
      type,
      ip,
      protocol,
      port,
      at: at.toISOString(),
      hsh256,
      previousHsh256: prev?.hsh256 ?? null,
      observationId,
      previousObservationId: prev?.id ?? null,
    };
    events.push(e);
    if (type === 'changed' && parsed && prev) changedPorts.set(e, parsed);
    summary[type]++;
  };

  for (const { host, ip, t, iso, hostnames, ports } of plans) {
    const answered = hostAnswered(host);
    summary.hosts++;
    if (answered) summary.hostsUp++;
    const openSlots = new Set<string>();

    for (const { slot, p, tagged, scored, fast } of ports) {
      openSlots.add(slot);
      summary.ports++;
      if (fast) {
        // Stored by the fast path above.
        summary.stable++;
        observations.push(
          new PortObservation(fast.id, ip, view, p, 'open', fast.firstSeen, fast.lastSeen, tagged.tags, scored.score, {
            previousSeen: fast.previousSeen,
            scoreTimed: fast.scoreTimed,
          }),
        );
        continue;
      }
      const cur = currentBySlot.get(slot);
      const head = headBySlot.get(slot);
      const same = byFingerprint.get(`${slot}#${p.hsh256}`);
      if (same && same.last_job_id === jobId) {
        summary.alreadyIngested++;
        continue;
      }
      const historic = cur !== undefined && t < cur.checked_at;
      const touch = (r: ExistingRow): UpdateRow => {
        const u = updateOf(r);
        // Every time here is Date#toISOString text (one fixed format): text order is time order.
        if (iso < u.first_seen) u.first_seen = iso;
        if (iso > u.last_seen) u.last_seen = iso;
        u.times_seen += 1;
        u.seen = true;
        // Same fingerprint, same document: rewrite only what can differ (names, tags of newer rules, score), and
        // only when it did, so a stable sighting stays a small (HOT) update.
        if (!sameList(r.hostnames, hostnames)) u.hostnames = hostnames;
        if (!sameList(r.tags, tagged.tags) || !sameList(r.rules, tagged.rules)) {
          u.tags = tagged.tags;
          u.rules = tagged.rules;
        }
        if (deps.scorePort && r.score !== scored.score) {
          u.score = scored.score;
          u.score_features = scored.features;
        }
        return u;
      };
      const insert = (current: boolean): InsertRow => {
        const row: InsertRow = {
          id: newId('obs'),
          ip,
          protocol: p.protocol,
          port: p.port,
          hsh256: p.hsh256,
          fp_version: p.fpVersion,
          view,
          first_seen: iso,
          last_seen: iso,
          checked_at: iso,
          state_changed_at: iso,
          current,
          view_head: current,
          doc: p.doc,
          fields: p.fields,
          hostnames,
          tags: tagged.tags,
          rules: tagged.rules,
          score: scored.score,
          score_features: scored.features,
        };
        inserts.push(row);
        // Later ports of the same batch (a duplicate host entry) see this row.
        const shadow: ExistingRow = {
          id: row.id,
          ip,
          protocol: p.protocol,
          port: p.port,
          hsh256: p.hsh256,
          view,
          state: 'open',
          current,
          view_head: current,
          first_seen: t,
          last_seen: t,
          checked_at: t,
          last_job_id: jobId,
          times_seen: 1,
          tags: tagged.tags,
          rules: tagged.rules,
          hostnames,
          score: scored.score,
        };
        byFingerprint.set(`${slot}#${p.hsh256}`, shadow);
        if (current) {
          currentBySlot.set(slot, shadow);
          headBySlot.set(slot, shadow);
        }
        return row;
      };
      /** `target` becomes the slot's current row and its view's head: the rows that were stop being so. */
      const promote = (target: ExistingRow | undefined) => {
        if (cur && cur.id !== target?.id && cur.current) {
          demote.add(cur.id);
          updateOf(cur).current = false;
          cur.current = false;
        }
        if (head && head.id !== target?.id && head.view_head) {
          demoteHeads.add(head.id);
          updateOf(head).view_head = false;
          head.view_head = false;
        }
        if (target) {
          const u = updateOf(target);
          u.current = true;
          u.view_head = true;
          target.current = true;
          target.view_head = true;
          currentBySlot.set(slot, target);
          headBySlot.set(slot, target);
        }
      };
      const observed = (id: string, state: 'open' | 'closed', firstSeen: string, lastSeen: string) =>
        observations.push(new PortObservation(id, ip, view, p, state, firstSeen, lastSeen, tagged.tags, scored.score));

      const decision = decideSighting({
        historic,
        known: Boolean(same),
        hsh256: p.hsh256,
        ...(cur ? { current: { hsh256: cur.hsh256, open: cur.state === OPEN, viewHead: cur.view === view && cur.view_head } } : {}),
        ...(head ? { viewHead: { hsh256: head.hsh256 } } : {}),
      });
      switch (decision.action) {
        case 'historic': {
          // Older than what the slot knows: widen first/last seen, never change the current state.
          summary.historic++;
          if (same) {
            const u = touch(same);
            // Keep the newest document: only first_seen/times move for an old sighting.
            if (t < same.last_seen) u.hostnames = null;
            if (iso > u.checked_at) u.checked_at = iso;
          } else {
            insert(false);
          }
          break;
        }
        case 'restore': {
          // A known fingerprint at a slot with no current row (should not happen): make it current again.
          const known = same!;
          const u = touch(known);
          promote(known);
          u.state = 'open';
          u.state_changed_at = iso;
          u.checked_at = iso;
          known.state = 'open';
          known.last_job_id = jobId;
          for (const type of decision.events) event(type, ip, p.protocol, p.port, t, p.hsh256, known.id);
          observed(known.id, 'open', u.first_seen, u.last_seen);
          break;
        }
        case 'insert': {
          const row = insert(true);
          for (const type of decision.events) event(type, ip, p.protocol, p.port, t, p.hsh256, row.id);
          observed(row.id, 'open', iso, iso);
          break;
        }
        case 'touch-current': {
          const now = cur!;
          const u = touch(now);
          u.checked_at = iso;
          if (now.state !== OPEN) {
            u.state = 'open';
            u.state_changed_at = iso;
            now.state = 'open';
          }
          if (decision.events.length === 0) summary.stable++;
          for (const type of decision.events) event(type, ip, p.protocol, p.port, t, p.hsh256, now.id);
          now.last_job_id = jobId;
          observed(now.id, 'open', u.first_seen, u.last_seen);
          break;
        }
        case 'switch-to-known':
        case 'switch-to-new': {
          // Another row than the current one becomes current: another fingerprint, or another view's. A change is
          // recorded against this view's previous fingerprint; a reappearance against the row that went.
          const previous = (type: EventType) => (type === 'changed' ? (head ?? cur) : cur);
          // No event: the same service seen through another view (profiles alternating) is a stable sighting.
          if (decision.events.length === 0) summary.stable++;
          if (decision.action === 'switch-to-known') {
            const known = same!;
            const u = touch(known);
            promote(known);
            u.state = 'open';
            u.state_changed_at = iso;
            u.checked_at = iso;
            known.state = 'open';
            known.last_job_id = jobId;
            for (const type of decision.events) event(type, ip, p.protocol, p.port, t, p.hsh256, known.id, previous(type), p);
            observed(known.id, 'open', u.first_seen, u.last_seen);
          } else {
            promote(undefined);
            const row = insert(true);
            for (const type of decision.events) event(type, ip, p.protocol, p.port, t, p.hsh256, row.id, previous(type), p);
            observed(row.id, 'open', iso, iso);
          }
          break;
        }
      }
    }

    // gone: open before, covered by this job, host answered (not merely assumed up by -Pn), not open now, and not
    // an older scan.
    if (!answered || ctx.coverage.empty) continue;
    for (const r of currentOpenByIp.get(ip) ?? []) {
      const slot = slotKey(ip, r.protocol, r.port);
      if (openSlots.has(slot) || !r.current || r.state !== OPEN) continue;
      if (!ctx.coverage.covers(r.protocol, r.port)) continue;
      if (t < r.checked_at) continue;
      const u = updateOf(r);
      u.state = 'closed';
      u.state_changed_at = iso;
      u.checked_at = iso;
      r.state = 'closed';
      event('gone', ip, r.protocol, r.port, t, r.hsh256, r.id);
    }
  }
  return { inserts, updates, original, demote, demoteHeads, events, changedPorts, observations };
}
