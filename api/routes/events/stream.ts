import { createRoute, z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { PlumError } from '../../../core/errors.ts';
import { EVENT_TYPES } from '../../../store/schema/observation-events.ts';
import { requireRole } from '../../auth.ts';
import { errors, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';

/**
 * Server-Sent Events: observation events (appeared/changed/gone/reappeared) and
 * run progress. The feed reads the database, not an in-process bus, so it shows
 * what every process writes (embedded runner, Temporal workers, `plum import`).
 *
 * Ordering: event ids are generated before their transaction commits, so two
 * concurrent ingests can commit out of id order. The feed therefore re-reads a
 * trailing window (REORDER_WINDOW_MS) and drops ids it already sent: delivery is
 * at-least-once on reconnect (Last-Event-ID), never silently lossy within the window.
 */
const REORDER_WINDOW_MS = 10_000;
const BATCH = 500;

const Query = z.object({
  types: z.string().regex(/^(appeared|changed|gone|reappeared)(,(appeared|changed|gone|reappeared))*$/, 'must be a comma-separated list of appeared, changed, gone, reappeared').optional(),
  runs: z.enum(['true', 'false']).default('true').openapi({ description: 'include run progress events' }),
  since: z.iso.datetime({ offset: true }).optional().openapi({ description: 'replay observation events recorded since this time' }),
});

export const route = createRoute({
  method: 'get',
  path: '/v1/events',
  tags: ['events'],
  summary: 'Stream observation events and run progress (Server-Sent Events)',
  description: 'Event names: `observation` (data: {id,type,ip,protocol,port,at,hsh256,previousHsh256,observationId,runId,jobId}) and `run` (data: {id,kind,status,progress,counters}). Reconnect with Last-Event-ID to resume.',
  security,
  middleware: [requireRole('viewer')] as const,
  request: { query: Query },
  responses: {
    200: { description: 'An event stream', content: { 'text/event-stream': { schema: z.string() } } },
    ...errors(400, 401, 403),
  },
});

interface EventRow {
  id: string; type: string; ip: string; protocol: string; port: number; at: Date; hsh256: string;
  previous_hsh256: string | null; observation_id: string; run_id: string | null; job_id: string | null; created_at: Date;
}
interface RunRow { id: string; kind: string; status: string; progress: unknown; counters: unknown; profile_name: string | null }

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const q = c.req.valid('query');
      const { store, limits, log } = c.var.deps;
      const types = q.types ? q.types.split(',') : [...EVENT_TYPES];
      const lastEventId = c.req.header('last-event-id');
      let cursor: Date;
      const seen = new Map<string, number>();
      if (lastEventId && /^evt_[0-9a-z]{26}$/.test(lastEventId)) {
        const [row] = await store.query<{ created_at: Date }>('select created_at from observation_events where id = $1', [lastEventId]);
        cursor = row?.created_at ?? new Date();
        seen.set(lastEventId, cursor.getTime());
      } else if (q.since) {
        cursor = new Date(q.since);
      } else {
        const [row] = await store.query<{ now: Date }>('select now() as now');
        cursor = row!.now;
      }
      if (lastEventId && !seen.size) {
        throw new PlumError('invalid_input', 'Last-Event-ID is not an evt_… id', { hint: 'reconnect without Last-Event-ID' });
      }
      const runState = new Map<string, string>();

      return streamSSE(c, async (stream) => {
        let lastWrite = Date.now();
        while (!stream.aborted && !stream.closed) {
          try {
            const from = new Date(cursor.getTime() - REORDER_WINDOW_MS);
            const rows = await store.query<EventRow>(
              `select id, type, host(ip) as ip, protocol, port, at, hsh256, previous_hsh256, observation_id, run_id, job_id, created_at
                 from observation_events where created_at >= $1 and type = any($2::text[])
                 order by created_at, id limit ${BATCH}`,
              [from.toISOString(), `{${types.join(',')}}`]);
            for (const r of rows) {
              if (seen.has(r.id)) continue;
              seen.set(r.id, r.created_at.getTime());
              if (r.created_at > cursor) cursor = r.created_at;
              await stream.writeSSE({
                id: r.id,
                event: 'observation',
                data: JSON.stringify({
                  id: r.id, type: r.type, ip: r.ip, protocol: r.protocol, port: r.port, at: r.at.toISOString(), hsh256: r.hsh256,
                  previousHsh256: r.previous_hsh256, observationId: r.observation_id, runId: r.run_id, jobId: r.job_id,
                }),
              });
              lastWrite = Date.now();
            }
            const horizon = cursor.getTime() - REORDER_WINDOW_MS;
            for (const [id, t] of seen) if (t < horizon) seen.delete(id);

            if (q.runs === 'true') {
              const runs = await store.query<RunRow>(
                `select id, kind, status, progress, counters, profile_name from runs
                  where status in ('queued', 'running') or finished_at > now() - interval '2 minutes'
                  order by created_at limit 200`);
              for (const r of runs) {
                const data = JSON.stringify({ id: r.id, kind: r.kind, profile: r.profile_name, status: r.status, progress: r.progress, counters: r.counters });
                if (runState.get(r.id) === data) continue;
                runState.set(r.id, data);
                await stream.writeSSE({ event: 'run', data });
                lastWrite = Date.now();
              }
            }
            if (Date.now() - lastWrite >= limits.sseKeepAliveMs) {
              await stream.write(': keep-alive\n\n');
              lastWrite = Date.now();
            }
            // A full batch means more are waiting: read again at once.
            if (rows.length < BATCH) await stream.sleep(limits.ssePollMs);
          } catch (e) {
            log.warn({ err: e }, 'event stream poll failed');
            await stream.writeSSE({ event: 'error', data: JSON.stringify({ code: 'unavailable', message: 'event feed interrupted; reconnect with Last-Event-ID' }) });
            return;
          }
        }
      }) as never;
    });
  },
} satisfies RouteModule;
