import { PlumError, toPlumError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { checkScope, describeOffenders, type Resolver } from '../core/scope.ts';
import type { EventsSignal } from '../store/events-signal.ts';
import type { Store } from '../store/index.ts';
import {
  claimFirings,
  failClaim,
  markDispatched,
  pendingFirings,
  profilesWithPendingFirings,
  refuseFirings,
  undispatchedClaims,
  type Claim,
} from '../store/repos/trigger-firings.ts';
import { loadPerimeter } from '../store/repos/targets.ts';
import type { RunRequest } from '../workflows/logic/types.ts';

/*
 * Trigger profiles, the running half: firings recorded at ingest (store/triggers.ts) become runs of their
 * profile. A pass (1) starts again the claims whose run never started (a crash between claim and start), then
 * (2) for each trigger profile with pending firings: checks their addresses with the scope guard (refused ones
 * are marked out_of_scope and never scanned) and claims the rest into one run, unless the profile already
 * started PLUM_TRIGGER_RUNS_PER_HOUR runs in the last hour (then they wait for a later pass; nothing is dropped).
 *
 * Who runs it: embedded, the scheduler's tick and, in `plum serve`, a commit of new events (startTriggerDispatcher);
 * distributed, `plum serve` with `start` starting a Temporal workflow whose id is the claim's
 * (`trigger:<profile>:<first firing>`), so a second start of the same claim is refused by Temporal.
 */

export type TriggerRequest = Extract<RunRequest, { kind: 'trigger' }>;

export interface TriggerDispatchDeps {
  store: Store;
  log: Logger;
  /** PLUM_TRIGGER_RUNS_PER_HOUR. */
  perHour: number;
  /** Starts the run of a claim; resolves once it is started (embedded: planned), rejects when it cannot start. */
  start(request: TriggerRequest): Promise<void>;
  /** Name resolution for the scope guard, when the perimeter declares names. */
  resolve?: Resolver;
  /** Firings per run (default 1,000): more wait for the next run. */
  maxPerRun?: number;
  now?: () => Date;
}

export interface TriggerPassSummary {
  started: string[];
  refused: number;
  /** Pending firings left for a later pass (rate limit). */
  waiting: number;
  errors: string[];
}

export function triggerRequest(claim: Pick<Claim, 'workflowId' | 'profile'>): TriggerRequest {
  return { kind: 'trigger', profile: claim.profile, workflowId: claim.workflowId, requestedBy: 'trigger' };
}

export async function dispatchTriggerFirings(deps: TriggerDispatchDeps): Promise<TriggerPassSummary> {
  const now = deps.now ?? (() => new Date());
  const out: TriggerPassSummary = { started: [], refused: 0, waiting: 0, errors: [] };
  const startClaim = async (claim: Claim) => {
    try {
      await deps.start(triggerRequest(claim));
      await markDispatched(deps.store, claim.workflowId, now());
      out.started.push(claim.workflowId);
    } catch (e) {
      const err = toPlumError(e);
      // Temporal: the claim's workflow exists already (started before a crash, or by another process).
      if (err.code === 'conflict') {
        await markDispatched(deps.store, claim.workflowId, now());
        return;
      }
      out.errors.push(`${claim.workflowId}: ${err.oneLine()}`);
      // Refused for good (out of scope, profile gone or changed): the firings say why; a lost database or
      // Temporal server is retried by the next pass.
      if (!err.retryable) await failClaim(deps.store, claim.workflowId, err.oneLine(), now());
      deps.log.warn({ workflowId: claim.workflowId, err: err.oneLine() }, 'triggered run did not start');
    }
  };

  for (const claim of await undispatchedClaims(deps.store)) await startClaim(claim);

  const profiles = await profilesWithPendingFirings(deps.store);
  if (profiles.length === 0) return out;
  const perimeter = await loadPerimeter(deps.store);
  for (const p of profiles) {
    const pending = await pendingFirings(deps.store, p.id, deps.maxPerRun ?? 1000);
    const ips = [...new Set(pending.map((f) => f.ip))];
    const decision = await checkScope(ips, perimeter, { resolve: deps.resolve });
    const outside = new Set(decision.offending.map((o) => o.target));
    if (outside.size > 0) {
      const refused = pending.filter((f) => outside.has(f.ip)).map((f) => f.id);
      await refuseFirings(deps.store, refused, `outside the perimeter: ${describeOffenders(decision.offending)}`);
      out.refused += refused.length;
      deps.log.warn({ profile: p.name, refused: refused.length }, 'trigger firings outside the perimeter: not scanned');
    }
    const ids = pending.filter((f) => !outside.has(f.ip)).map((f) => f.id);
    const claim = await claimFirings(deps.store, { profileId: p.id, profile: p.name, ids, perHour: deps.perHour, now: now() });
    if (!claim) {
      out.waiting += ids.length;
      continue;
    }
    deps.log.info({ profile: p.name, workflowId: claim.workflowId, firings: claim.firings }, 'triggered run');
    await startClaim(claim);
  }
  return out;
}

/**
 * The dispatcher of a long-running process: a pass at start, after each commit of new events (a finding may have
 * fired) and every `idleMs` (claims held back by the rate limit fall due with time). Passes never overlap.
 */
export function startTriggerDispatcher(deps: TriggerDispatchDeps & { events?: EventsSignal; idleMs?: number; onPass?(s: TriggerPassSummary): void }): {
  stop(): Promise<void>;
  wake(): void;
  pass(): Promise<TriggerPassSummary | undefined>;
} {
  let stopped = false;
  let running: Promise<TriggerPassSummary | undefined> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  const once = async (): Promise<TriggerPassSummary | undefined> => {
    try {
      const s = await dispatchTriggerFirings(deps);
      deps.onPass?.(s);
      return s;
    } catch (e) {
      deps.log.error({ err: toPlumError(e).oneLine() }, 'trigger dispatch failed');
      return undefined;
    }
  };
  const pass = (): Promise<TriggerPassSummary | undefined> => {
    if (stopped) return Promise.resolve(undefined);
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let s: TriggerPassSummary | undefined;
      do {
        again = false;
        s = await once();
      } while (again && !stopped);
      return s;
    })().finally(() => {
      running = undefined;
      schedule();
    });
    return running;
  };
  const schedule = () => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => void pass(), deps.idleMs ?? 60_000);
    timer.unref();
  };
  const unsubscribe = deps.events?.subscribe(() => void pass());
  void pass();
  return {
    wake: () => void pass(),
    pass,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      unsubscribe?.();
      await running;
    },
  };
}

/** Temporal's "workflow already started" as the conflict it is (the claim's run exists). */
export function alreadyStarted(e: unknown): PlumError | undefined {
  const name = (e as { name?: string } | undefined)?.name;
  return name === 'WorkflowExecutionAlreadyStartedError'
    ? new PlumError('conflict', "the triggered run's workflow is already started", { hint: 'nothing to do' })
    : undefined;
}
