import type { SearchFields } from '../core/fields.ts';
import type { StoreSession } from '../store/index.ts';
import { goneInRun } from '../store/repos/observation-events.ts';
import { openServicesOfRun } from '../store/repos/observations.ts';

/** One open service a run saw, and what the run changed about it. */
export interface RunFinding {
  ip: string;
  protocol: string;
  port: number;
  /** appeared / reappeared / changed in this run, or null when it was already known as is. */
  event: 'appeared' | 'reappeared' | 'changed' | null;
  service: string;
  tags: string[];
  score: number;
  firstSeen: string;
}

/** A service's one-line description from its search fields. */
export function describeService(f: Partial<SearchFields>): string {
  const name = [f.service_name?.[0], f.service_product?.[0], f.service_version?.[0]].filter(Boolean).join(' ');
  const title = f.http_title?.[0] ? `title "${f.http_title[0]}"` : '';
  const banner = !title && f.banner?.[0] ? `banner "${f.banner[0].replace(/\s+/g, ' ').slice(0, 60)}"` : '';
  return [name, title, banner].filter(Boolean).join(', ');
}

/** What a run found: its current open services, new ones first, then by score. */
export async function runFindings(store: StoreSession, runId: string, limit = 500): Promise<RunFinding[]> {
  const rows = await openServicesOfRun(store, runId, limit);
  return rows.map((r) => ({
    ip: r.ip,
    protocol: r.protocol,
    port: Number(r.port),
    event: (r.event as RunFinding['event']) ?? null,
    service: describeService(r.fields ?? {}),
    tags: r.tags ?? [],
    score: Number(r.score ?? 0),
    firstSeen: new Date(r.first_seen).toISOString(),
  }));
}

/** Services that went away during a run. */
export const runGone = goneInRun;
