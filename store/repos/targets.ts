import { asc, eq, inArray } from 'drizzle-orm';
import { PlumError } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import type { PlanTarget } from '../../core/plan.ts';
import type { PerimeterTargets } from '../../core/scope.ts';
import { bigIntToAddress, findOverlaps, isAddressTarget, parseLabel, parseTarget, type ParsedTarget, type TargetOverlap } from '../../core/targets.ts';
import type { Store, StoreSession } from '../index.ts';
import { targets, type TargetRow } from '../schema/targets.ts';

/**
 * Targets repository: the declared perimeter (inclusions and exclusions,
 * with labels). Adding is all-or-nothing: every value is parsed before
 * anything is written, and overlaps are reported rather than merged.
 */
export interface TargetInfo {
  id: string;
  value: string;
  kind: 'ip' | 'cidr' | 'range' | 'fqdn';
  labels: string[];
  exclude: boolean;
  note: string | null;
  /** Addresses covered (1 for a name). */
  size: number;
  createdAt: string;
}

export interface AddTargetsResult {
  added: TargetInfo[];
  /** Values already declared the same way; their labels were merged. */
  unchanged: TargetInfo[];
  /** Overlaps of the added values with declared targets of the same kind (inclusion or exclusion). */
  overlaps: TargetOverlap[];
}

function sizeOf(t: ParsedTarget): number {
  return isAddressTarget(t) ? Number(t.size) : 1;
}

const info = (r: TargetRow): TargetInfo => ({
  id: r.id,
  value: r.value,
  kind: r.kind,
  labels: r.labels,
  exclude: r.exclude,
  note: r.note,
  size: sizeOf(parseTarget(r.value)),
  createdAt: r.createdAt.toISOString(),
});

function rowValues(t: ParsedTarget) {
  if (!isAddressTarget(t)) return { rangeStart: null, rangeEnd: null, cidr: null };
  return {
    rangeStart: bigIntToAddress(t.first, t.family),
    rangeEnd: bigIntToAddress(t.last, t.family),
    cidr: t.kind === 'cidr' ? t.value : t.kind === 'ip' ? `${t.value}/${t.family === 4 ? 32 : 128}` : null,
  };
}

export interface AddTargetsOptions {
  exclude?: boolean;
  labels?: string[];
  note?: string;
}

export async function addTargets(store: Store, values: string[], opts: AddTargetsOptions = {}): Promise<AddTargetsResult> {
  if (values.length === 0) throw new PlumError('usage', 'no target given', { hint: 'give addresses, CIDR ranges, ranges a-b or domain names' });
  const exclude = opts.exclude ?? false;
  const labels = [...new Set((opts.labels ?? []).map(parseLabel))];
  // Parse everything first: one bad value rejects the whole command, nothing half-written.
  const parsed = values.map((v) => parseTarget(v));
  const unique = new Map<string, ParsedTarget>();
  for (const p of parsed) unique.set(p.value, p);

  const existingRows = await store.db.select().from(targets).orderBy(asc(targets.value));
  const byValue = new Map(existingRows.map((r) => [r.value, r]));
  const added: TargetInfo[] = [];
  const unchanged: TargetInfo[] = [];
  const toInsert: ParsedTarget[] = [];
  for (const p of unique.values()) {
    const row = byValue.get(p.value);
    if (!row) {
      toInsert.push(p);
      continue;
    }
    if (row.exclude !== exclude) {
      throw new PlumError('conflict', `${p.value} is already declared as ${row.exclude ? 'an exclusion' : 'a target'}`, {
        hint: `remove it first with \`plum target rm ${p.value}\``,
      });
    }
  }
  const sameKind = existingRows.filter((r) => r.exclude === exclude).map((r) => parseTarget(r.value));
  const overlaps = findOverlaps(toInsert, sameKind);

  const write = async (tx: StoreSession) => {
    for (const p of unique.values()) {
      const row = byValue.get(p.value);
      if (row) {
        const merged = [...new Set([...row.labels, ...labels])];
        if (merged.length !== row.labels.length) {
          const [u] = await tx.db.update(targets).set({ labels: merged }).where(eq(targets.id, row.id)).returning();
          unchanged.push(info(u!));
        } else {
          unchanged.push(info(row));
        }
      }
    }
    const batch = toInsert.map((p) => ({
      id: newId('tgt'),
      value: p.value,
      kind: p.kind,
      labels,
      exclude,
      note: opts.note ?? null,
      ...rowValues(p),
    }));
    for (let i = 0; i < batch.length; i += 1000) {
      const rows = await tx.db
        .insert(targets)
        .values(batch.slice(i, i + 1000))
        .returning();
      added.push(...rows.map(info));
    }
  };
  await store.transaction(write);
  return { added, unchanged, overlaps };
}

/** Sets a target's labels and/or note; false when there is no target with this id. */
export async function updateTargetMeta(store: StoreSession, id: string, set: { labels?: string[]; note?: string | null }): Promise<boolean> {
  const updated = await store.db.update(targets).set(set).where(eq(targets.id, id)).returning({ id: targets.id });
  return updated.length > 0;
}

export interface ListTargetsOptions {
  label?: string;
  exclude?: boolean;
}

export async function listTargets(store: StoreSession, opts: ListTargetsOptions = {}): Promise<TargetInfo[]> {
  const rows = await store.db.select().from(targets).orderBy(asc(targets.exclude), asc(targets.createdAt), asc(targets.value));
  const label = opts.label ? parseLabel(opts.label) : undefined;
  return rows.filter((r) => (opts.exclude === undefined || r.exclude === opts.exclude) && (!label || r.labels.includes(label))).map(info);
}

/** Removes targets by value (as written or canonical) or id; all must exist, else nothing is removed. */
export async function removeTargets(store: StoreSession, valuesOrIds: string[]): Promise<TargetInfo[]> {
  if (valuesOrIds.length === 0) throw new PlumError('usage', 'no target given', { hint: 'give the values or ids shown by `plum target list`' });
  const keys = valuesOrIds.map((v) => {
    if (/^tgt_/.test(v)) return v;
    try {
      return parseTarget(v).value;
    } catch {
      return v;
    }
  });
  const rows = await store.db.select().from(targets).where(inArray(targets.value, keys));
  const byId = await store.db.select().from(targets).where(inArray(targets.id, keys));
  const found = new Map([...rows, ...byId].map((r) => [r.id, r]));
  const known = new Set([...found.values()].flatMap((r) => [r.id, r.value]));
  const missing = keys.filter((k) => !known.has(k));
  if (missing.length > 0) {
    throw new PlumError('not_found', `no such target: ${missing.join(', ')}`, { hint: 'see `plum target list` for declared targets' });
  }
  await store.db.delete(targets).where(inArray(targets.id, [...found.keys()]));
  return [...found.values()].map(info);
}

/** The perimeter for the scope guard. */
export async function loadPerimeter(store: StoreSession): Promise<PerimeterTargets> {
  const rows = await store.db.select({ value: targets.value, exclude: targets.exclude }).from(targets);
  const includes: ParsedTarget[] = [];
  const excludes: ParsedTarget[] = [];
  for (const r of rows) (r.exclude ? excludes : includes).push(parseTarget(r.value));
  return { includes, excludes };
}

/** Every target with its labels, for planJobs. */
export async function loadPlanTargets(store: StoreSession): Promise<PlanTarget[]> {
  const rows = await store.db.select({ value: targets.value, exclude: targets.exclude, labels: targets.labels }).from(targets).orderBy(asc(targets.value));
  return rows.map((r) => ({ value: parseTarget(r.value), exclude: r.exclude, labels: r.labels }));
}
