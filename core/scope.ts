import { PlumError } from './errors.ts';
import {
  intersectIntervals,
  intervalsCover,
  intervalToString,
  isAddressTarget,
  mergeIntervals,
  parseTarget,
  subtractIntervals,
  toInterval,
  type Interval,
  type ParsedTarget,
} from './targets.ts';

/**
 * The scope guard. Every scan, scheduled or urgent, may touch only addresses
 * inside the declared perimeter minus its exclusions. It runs before nmap
 * starts and names every offending target; an operator override is possible
 * but must carry a reason, which the caller records with the run.
 *
 * The allowed address set is: declared addresses/ranges, plus the current
 * addresses of declared names, minus excluded addresses/ranges. A requested
 * name is allowed when it is not excluded and all its addresses are allowed, so
 * a name pointing outside the perimeter is refused even if it looks harmless.
 */
export interface PerimeterTargets {
  includes: ParsedTarget[];
  excludes: ParsedTarget[];
}

/** Resolves a name to its addresses; rejects or returns [] when it does not resolve. */
export type Resolver = (name: string) => Promise<string[]>;

export type ScopeReason = 'outside_perimeter' | 'excluded' | 'unresolvable' | 'invalid';

export interface ScopeOffender {
  target: string;
  reason: ScopeReason;
  /** Addresses (or ranges) of the target that are not allowed, at most 10. */
  addresses?: string[];
}

export interface ScopeOverride {
  reason: string;
  by?: string;
  /** ISO time the override was applied. */
  at: string;
}

export interface ScopeDecision {
  /** True when every requested target is inside the perimeter. */
  ok: boolean;
  offending: ScopeOffender[];
  /** Addresses each requested or declared name resolved to during the check. */
  resolved: Record<string, string[]>;
  /** Set when an operator override let an out-of-scope request through. */
  override?: ScopeOverride;
}

export interface ScopeOptions {
  /** Needed as soon as a name is requested or declared. */
  resolve?: Resolver;
  override?: { reason: string; by?: string };
  now?: Date;
}

/** Resolves names with at most 16 lookups in flight (the resolver's thread pool is small). */
async function resolveEach(names: string[], resolve: Resolver | undefined, into: Record<string, string[]>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const n = names[next++]!;
      into[n] = await resolveAll(n, resolve);
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, names.length) }, worker));
}

async function resolveAll(name: string, resolve: Resolver | undefined): Promise<string[]> {
  if (!resolve) {
    throw new PlumError('internal', `no resolver given to check the name ${name}`, {
      hint: 'pass a resolver to checkScope',
    });
  }
  try {
    return await resolve(name);
  } catch {
    return [];
  }
}

function addressIntervals(addresses: string[]): Interval[] {
  const out: Interval[] = [];
  for (const a of addresses) {
    try {
      const t = parseTarget(a);
      if (isAddressTarget(t)) out.push(toInterval(t));
    } catch {
      // A resolver returning garbage adds nothing to the allowed set.
    }
  }
  return out;
}

const sample = (ivs: Interval[]) => ivs.slice(0, 10).map(intervalToString);

/** Checks requested targets against the perimeter; never throws for out-of-scope input. */
export async function checkScope(requested: Array<string | ParsedTarget>, perimeter: PerimeterTargets, opts: ScopeOptions = {}): Promise<ScopeDecision> {
  const resolved: Record<string, string[]> = {};
  const offending: ScopeOffender[] = [];

  const includeIvs: Interval[] = [];
  const excludeIvs: Interval[] = [];
  const excludedNames = new Set<string>();
  const declaredNames = new Set<string>();
  for (const t of perimeter.includes) {
    if (isAddressTarget(t)) includeIvs.push(toInterval(t));
    else declaredNames.add(t.value);
  }
  for (const t of perimeter.excludes) {
    if (isAddressTarget(t)) excludeIvs.push(toInterval(t));
    else excludedNames.add(t.value);
  }

  const parsed: ParsedTarget[] = [];
  for (const r of requested) {
    if (typeof r !== 'string') {
      parsed.push(r);
      continue;
    }
    try {
      parsed.push(parseTarget(r));
    } catch {
      offending.push({ target: r, reason: 'invalid' });
    }
  }

  // Requested names are resolved; a requested name that is declared brings its own addresses.
  const requestedNames = [...new Set(parsed.filter((t) => t.kind === 'fqdn').map((t) => t.value))];
  await resolveEach(requestedNames, opts.resolve, resolved);
  for (const n of requestedNames) if (declaredNames.has(n)) includeIvs.push(...addressIntervals(resolved[n] ?? []));

  const excluded = mergeIntervals(excludeIvs);
  let allowed = subtractIntervals(mergeIntervals(includeIvs), excluded);
  // Other declared names are resolved only when a requested name points outside the
  // declared ranges (it may share an address with a declared name): no DNS storm otherwise.
  const uncovered = requestedNames.some((n) => subtractIntervals(mergeIntervals(addressIntervals(resolved[n] ?? [])), allowed).length > 0);
  if (uncovered) {
    const others = [...declaredNames].filter((n) => !(n in resolved));
    await resolveEach(others, opts.resolve, resolved);
    for (const n of others) includeIvs.push(...addressIntervals(resolved[n] ?? []));
    allowed = subtractIntervals(mergeIntervals(includeIvs), excluded);
  }

  const judge = (target: string, ivs: Interval[]): ScopeOffender | null => {
    const outside = subtractIntervals(mergeIntervals(ivs), allowed);
    if (outside.length === 0) return null;
    const hitExcluded = intersectIntervals(outside, excluded);
    return hitExcluded.length > 0
      ? { target, reason: 'excluded', addresses: sample(hitExcluded) }
      : { target, reason: 'outside_perimeter', addresses: sample(outside) };
  };

  for (const t of parsed) {
    if (isAddressTarget(t)) {
      const o = judge(t.value, [toInterval(t)]);
      if (o) offending.push(o);
      continue;
    }
    if (excludedNames.has(t.value)) {
      offending.push({ target: t.value, reason: 'excluded' });
      continue;
    }
    const addrs = resolved[t.value] ?? [];
    const ivs = addressIntervals(addrs);
    if (ivs.length === 0) {
      // A declared name that does not resolve today cannot reach anything: nmap skips it.
      if (!declaredNames.has(t.value)) offending.push({ target: t.value, reason: 'unresolvable' });
      continue;
    }
    const o = judge(t.value, ivs);
    if (o) offending.push(o);
  }

  const decision: ScopeDecision = { ok: offending.length === 0, offending, resolved };
  if (!decision.ok && opts.override) {
    decision.override = {
      reason: opts.override.reason,
      ...(opts.override.by ? { by: opts.override.by } : {}),
      at: (opts.now ?? new Date()).toISOString(),
    };
  }
  return decision;
}

const REASON_TEXT: Record<ScopeReason, string> = {
  outside_perimeter: 'outside the perimeter',
  excluded: 'excluded',
  unresolvable: 'does not resolve',
  invalid: 'not a valid target',
};

/** One-line description of the offenders, e.g. `8.8.8.8 (outside the perimeter), 10.0.0.9 (excluded)`. */
export function describeOffenders(offending: ScopeOffender[], max = 5): string {
  const parts = offending.slice(0, max).map((o) => {
    const where =
      o.addresses && o.addresses.length > 0 && (o.addresses.length > 1 || o.addresses[0] !== o.target) ? ` at ${o.addresses.slice(0, 3).join(', ')}` : '';
    return `${o.target} (${REASON_TEXT[o.reason]}${where})`;
  });
  if (offending.length > max) parts.push(`and ${offending.length - max} more`);
  return parts.join(', ');
}

/**
 * checkScope, then refuse: throws PlumError('out_of_scope') naming the
 * offending targets unless every target is in scope or an override with a
 * non-empty reason is given (the returned decision then carries it, for the run record).
 */
export async function enforceScope(requested: Array<string | ParsedTarget>, perimeter: PerimeterTargets, opts: ScopeOptions = {}): Promise<ScopeDecision> {
  if (opts.override && !opts.override.reason.trim()) {
    throw new PlumError('usage', 'a scope override needs a reason', { hint: 'say why the scan may leave the perimeter' });
  }
  const decision = await checkScope(requested, perimeter, opts);
  if (decision.ok || decision.override) return decision;
  throw new PlumError('out_of_scope', `refused, out of scope: ${describeOffenders(decision.offending)}`, {
    hint: 'add the targets to the perimeter with `plum target add`, or scan only declared targets',
    details: { offending: decision.offending },
  });
}

/** A canonical address key so `127.0.0.1` and `::ffff:127.0.0.1` compare equal (see pinnedKey). */
function addressKey(a: string): string | undefined {
  try {
    const t = parseTarget(a);
    if (!isAddressTarget(t)) return undefined;
    return intervalToString(toInterval(t));
  } catch {
    return undefined;
  }
}

export interface NameRecheck {
  /** Targets to scan: addresses unchanged, names whose current addresses were all checked when the run was planned. */
  keep: string[];
  /** Names dropped because they now resolve (also) elsewhere, or no longer resolve. */
  dropped: Array<{ name: string; addresses: string[] }>;
}

/**
 * Right before nmap starts (pure): a name is scanned only if every address it
 * resolves to now was among the addresses the scope guard checked when the run
 * was planned, possibly hours earlier. Names without a pinned entry (runs
 * planned before pinning existed) are kept as they are.
 */
export function recheckNames(
  targets: readonly string[],
  pinned: Readonly<Record<string, readonly string[]>>,
  current: Readonly<Record<string, readonly string[]>>,
): NameRecheck {
  const keep: string[] = [];
  const dropped: NameRecheck['dropped'] = [];
  for (const t of targets) {
    const checked = pinned[t];
    if (!checked) {
      keep.push(t);
      continue;
    }
    const allowed = new Set(checked.map(addressKey).filter((k): k is string => k !== undefined));
    const now = current[t] ?? [];
    const outside = now.filter((a) => {
      const k = addressKey(a);
      return k === undefined || !allowed.has(k);
    });
    if (now.length === 0 || outside.length > 0) dropped.push({ name: t, addresses: outside.slice(0, 10) });
    else keep.push(t);
  }
  return { keep, dropped };
}

/**
 * The hosts of a job result that lie outside the job (pure): an address is
 * inside when one of the job's address targets covers it, or when one of the
 * job's names was checked at that address (`pinned`). For a name planned before
 * pinning existed, a host nmap reports under that name (hostname type "user")
 * is inside. Returns the offending addresses, in input order, without repeats.
 */
export function hostsOutsideJob(
  hosts: ReadonlyArray<{ ip: string; hostnames?: ReadonlyArray<{ name: string; type: string }> }>,
  jobTargets: readonly string[],
  pinned: Readonly<Record<string, readonly string[]>> = {},
): string[] {
  const ivs: Interval[] = [];
  const unpinnedNames = new Set<string>();
  for (const value of jobTargets) {
    let t: ParsedTarget;
    try {
      t = parseTarget(value);
    } catch {
      continue;
    }
    if (isAddressTarget(t)) ivs.push(toInterval(t));
    else if (pinned[t.value]) ivs.push(...addressIntervals([...pinned[t.value]!]));
    else unpinnedNames.add(t.value);
  }
  const allowed = mergeIntervals(ivs);
  const out: string[] = [];
  for (const h of hosts) {
    const own = addressIntervals([h.ip]);
    const inside = own.length > 0 && subtractIntervals(mergeIntervals(own), allowed).length === 0;
    const named = (h.hostnames ?? []).some((n) => n.type === 'user' && unpinnedNames.has(n.name.toLowerCase()));
    if (!inside && !named && !out.includes(h.ip)) out.push(h.ip);
  }
  return out;
}

export interface AddressOutsidePerimeter {
  address: string;
  reason: Extract<ScopeReason, 'excluded' | 'outside_perimeter' | 'invalid'>;
}

/**
 * The addresses the perimeter does not allow now (pure, no DNS): an address is
 * allowed when a declared address or range covers it and no exclusion does.
 * Declared names are not resolved, so an address reachable only as one of their
 * addresses counts as outside: this is for addresses that were planned from the
 * declared addresses and ranges (a scouting sweep), re-checked later. An address
 * both undeclared and excluded is `excluded`. In input order, without repeats.
 */
export function addressesOutsidePerimeter(addresses: Iterable<string>, perimeter: PerimeterTargets): AddressOutsidePerimeter[] {
  const excluded = mergeIntervals(perimeter.excludes.filter(isAddressTarget).map(toInterval));
  const allowed = subtractIntervals(mergeIntervals(perimeter.includes.filter(isAddressTarget).map(toInterval)), excluded);
  const out: AddressOutsidePerimeter[] = [];
  const seen = new Set<string>();
  for (const address of addresses) {
    if (seen.has(address)) continue;
    seen.add(address);
    const [iv] = addressIntervals([address]);
    if (!iv || iv.first !== iv.last) out.push({ address, reason: 'invalid' });
    else if (intervalsCover(excluded, iv)) out.push({ address, reason: 'excluded' });
    else if (!intervalsCover(allowed, iv)) out.push({ address, reason: 'outside_perimeter' });
  }
  return out;
}
