import { toPlumError } from '../core/errors.ts';
import { silentLogger, type Logger } from '../core/log.ts';
import { EVENTS_CHANNEL, type Store } from './index.ts';

/**
 * "Observation events were committed": one LISTEN per process, fanned out to
 * whoever waits for new events (the webhook dispatcher, each SSE stream). A
 * trigger on observation_events notifies at commit, whichever process wrote
 * them (embedded runner, `plum ingest`, an agent upload, a Temporal worker).
 */
export interface EventsSignal {
  /** Calls `fn` on each commit that wrote events; returns the unsubscribe. */
  subscribe(fn: () => void): () => void;
  /** Resolves at the next commit or after `ms`, whichever comes first (or when `abort` fires). */
  wait(ms: number, abort?: AbortSignal): Promise<void>;
  /** False when the store cannot listen (reached through a holder's socket): waiters fall back on their timeouts. */
  readonly live: boolean;
  close(): Promise<void>;
}

export async function listenForEvents(store: Pick<Store, 'listen'>, log: Logger = silentLogger): Promise<EventsSignal> {
  const subscribers = new Set<() => void>();
  const fire = () => {
    for (const fn of [...subscribers]) fn();
  };
  let unlisten: (() => Promise<void>) | undefined;
  if (store.listen) {
    try {
      unlisten = await store.listen(EVENTS_CHANNEL, fire);
    } catch (e) {
      log.warn({ err: toPlumError(e).oneLine() }, 'cannot listen for committed events; polling instead');
    }
  }
  const subscribe = (fn: () => void) => {
    subscribers.add(fn);
    return () => {
      subscribers.delete(fn);
    };
  };
  return {
    live: unlisten !== undefined,
    subscribe,
    wait(ms, abort) {
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          off();
          abort?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        const off = subscribe(done);
        abort?.addEventListener('abort', done, { once: true });
      });
    },
    async close() {
      subscribers.clear();
      await unlisten?.().catch(() => {});
    },
  };
}
