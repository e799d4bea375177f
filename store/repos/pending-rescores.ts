import type { StoreSession } from '../index.ts';

/**
 * Scores owed to hosts (store/schema/pending-rescores.ts). Ingest queues the
 * hosts of a batch in the batch's own transaction and clears them once they
 * are rescored; whatever a killed process left queued is finished by the next
 * ingest or run (finishPendingRescores).
 */

/** Queues `ips` for rescoring, in the caller's transaction. */
export async function queueRescores(tx: StoreSession, ips: string[], at: Date): Promise<void> {
  if (ips.length === 0) return;
  await tx.query(
    `insert into pending_rescores (ip, queued_at) select distinct unnest($1::inet[]), $2::timestamptz
     on conflict (ip) do update set queued_at = greatest(pending_rescores.queued_at, excluded.queued_at)`,
    [`{${[...new Set(ips)].join(',')}}`, at.toISOString()],
  );
}

/** Clears `ips` once rescored, unless another ingest queued them again after `queuedUpTo`. */
export async function clearRescores(store: StoreSession, ips: string[], queuedUpTo: Date): Promise<void> {
  if (ips.length === 0) return;
  await store.query('delete from pending_rescores where ip = any($1::inet[]) and queued_at <= $2::timestamptz', [
    `{${[...new Set(ips)].join(',')}}`,
    queuedUpTo.toISOString(),
  ]);
}

/** Hosts still owed a score. */
export async function pendingRescoreIps(store: StoreSession): Promise<string[]> {
  return (await store.query<{ ip: string }>('select host(ip) as ip from pending_rescores order by ip')).map((r) => r.ip);
}

/**
 * Rescores the hosts an interrupted ingest left owed, and returns how many.
 * `rescore` is the rules' rescoreIps with the current rules and weights.
 */
export async function finishPendingRescores(store: StoreSession, rescore: (ips: string[]) => Promise<unknown>): Promise<number> {
  const ips = await pendingRescoreIps(store);
  if (ips.length === 0) return 0;
  const upTo = new Date();
  await rescore(ips);
  await clearRescores(store, ips, upTo);
  return ips.length;
}
