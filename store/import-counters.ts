import type { ChangeCounts } from '../core/counts.ts';
import type { StoreSession } from './index.ts';
import type { IngestSummary } from './ingest.ts';

export interface ImportRunCounters extends ChangeCounts {
  stable: number;
}

/**
 * The counters an import run keeps: what the whole result did, not only the
 * last attempt. An import resumed after an interruption reads the whole file
 * again (hosts and ports are right) but finds the first attempt's changes
 * already stored (`alreadyIngested`): its events are counted from the run's
 * stored events, and those of its already-stored sightings that were no event
 * were stable.
 */
export async function importRunCounters(store: StoreSession, runId: string, s: IngestSummary): Promise<ImportRunCounters> {
  const byType = new Map(
    (
      await store.query<{ type: string; n: number }>(
        `select type, count(*)::int as n from observation_events
      where run_id = $1 and exists (select 1 from runs where id = $1 and kind = 'import') group by type`,
        [runId],
      )
    ).map((r) => [r.type, r.n]),
  );
  const appeared = Math.max(s.appeared, byType.get('appeared') ?? 0);
  const changed = Math.max(s.changed, byType.get('changed') ?? 0);
  const gone = Math.max(s.gone, byType.get('gone') ?? 0);
  const reappeared = Math.max(s.reappeared, byType.get('reappeared') ?? 0);
  const earlierEvents = appeared - s.appeared + (changed - s.changed) + (reappeared - s.reappeared);
  const stable = s.stable + Math.max(0, s.alreadyIngested - earlierEvents);
  return { hosts: s.hosts, hostsUp: s.hostsUp, ports: s.ports, appeared, changed, gone, reappeared, stable };
}
