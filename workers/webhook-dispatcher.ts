import { toPlumError } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { dispatchWebhookEvents, type DispatchSummary, type WebhookDeps } from '../activities/webhooks.ts';
import type { EventsSignal } from '../store/events-signal.ts';
import type { Store } from '../store/index.ts';
import { nextPendingAttemptAt } from '../store/repos/webhooks.ts';

/*
 * The webhook dispatcher of a long-running process (`plum serve`, `plum
 * scheduler`): a pass queues and sends as soon as a batch of events commits
 * (the events signal), not at the next scheduler tick. At start it sends what
 * was left pending (a restart resumes deliveries); between commits it sleeps
 * until the next retry falls due, or `idleMs` at most (the fallback when the
 * store cannot listen). Passes never overlap in a process; a commit during a
 * pass makes one more pass after it. Other processes may dispatch too:
 * dispatchWebhookEvents keeps each event to one delivery and each webhook's
 * deliveries in order.
 */

export interface WebhookDispatcherDeps {
  store: Store;
  log: Logger;
  events: EventsSignal;
  /** Delivery options (fetch, allowPrivate, retry tuning). */
  webhook?: Omit<WebhookDeps, 'log' | 'now'>;
  /** Longest sleep between passes. Default 30 s. */
  idleMs?: number;
  /** Called after each pass (tests, metrics). */
  onPass?: (s: DispatchSummary) => void;
}

/** A retry that is already due but was not sent (another process holds the webhook) is looked at again after this. */
const MIN_RETRY_WAIT_MS = 1000;
/** Events of a transaction still in progress are queued once it ends: looked at again this soon. */
const SETTLE_WAIT_MS = 100;

export function startWebhookDispatcher(deps: WebhookDispatcherDeps): { stop(): Promise<void>; wake(): void } {
  const idleMs = deps.idleMs ?? 30_000;
  let stopped = false;
  let running: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;

  /** Whether the last pass found events of transactions still in progress. */
  let waiting = false;

  const pass = async () => {
    try {
      const s = await dispatchWebhookEvents(deps.store, { ...deps.webhook, log: deps.log });
      if (s.deliveries || s.failed || s.retried) deps.log.debug(s, 'webhook dispatch');
      waiting = s.waiting > 0;
      deps.onPass?.(s);
    } catch (e) {
      waiting = false;
      deps.log.error({ err: toPlumError(e).oneLine() }, 'webhook dispatch failed');
    }
  };

  const schedule = async () => {
    let wait = waiting ? SETTLE_WAIT_MS : idleMs;
    try {
      const next = await nextPendingAttemptAt(deps.store);
      if (next) wait = Math.min(wait, Math.max(MIN_RETRY_WAIT_MS, next.getTime() - Date.now()));
    } catch (e) {
      deps.log.warn({ err: toPlumError(e).oneLine() }, 'cannot read the next webhook retry time');
    }
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(wake, wait);
  };

  function wake(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    clearTimeout(timer);
    running = (async () => {
      do {
        again = false;
        await pass();
      } while (again && !stopped);
      await schedule();
    })().finally(() => {
      running = undefined;
      // A commit while the next wait was being set up.
      if (again) wake();
    });
  }

  const unsubscribe = deps.events.subscribe(wake);
  wake();
  return {
    wake,
    async stop() {
      stopped = true;
      unsubscribe();
      clearTimeout(timer);
      await running;
    },
  };
}
