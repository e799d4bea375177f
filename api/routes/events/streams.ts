import { PlumError } from '../../../core/errors.ts';

/**
 * Counts the open event streams of one server, per API key and in total, so a
 * client opening hundreds of streams gets a 429 instead of slowing the server
 * (each stream polls the database).
 */
export class StreamSlots {
  private readonly perKey = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly maxPerKey: number,
    private readonly maxTotal: number,
  ) {}

  /** Takes a slot for `key` or throws `rate_limited`; call the returned function once, when the stream ends. */
  acquire(key: string): () => void {
    const mine = this.perKey.get(key) ?? 0;
    if (mine >= this.maxPerKey) {
      throw new PlumError('rate_limited', `too many open event streams for this API key: at most ${this.maxPerKey}`, {
        hint: 'close another stream first; one stream carries every event type',
      });
    }
    if (this.total >= this.maxTotal) {
      throw new PlumError('rate_limited', `too many open event streams on this server: at most ${this.maxTotal}`, {
        hint: 'retry later, or close streams you no longer read',
      });
    }
    this.perKey.set(key, mine + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const n = (this.perKey.get(key) ?? 1) - 1;
      if (n > 0) this.perKey.set(key, n);
      else this.perKey.delete(key);
    };
  }

  /** Open streams (all keys), for tests and diagnostics. */
  get open(): number {
    return this.total;
  }
}

const slotsByServer = new WeakMap<object, StreamSlots>();

/** The stream slots of one server (its resolved deps), made on first use. */
export function streamSlotsOf(deps: object, limits: { sseStreamsPerKey: number; sseStreamsTotal: number }): StreamSlots {
  let slots = slotsByServer.get(deps);
  if (!slots) {
    slots = new StreamSlots(limits.sseStreamsPerKey, limits.sseStreamsTotal);
    slotsByServer.set(deps, slots);
  }
  return slots;
}
