import { createRoute, z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { PlumError } from '../../../core/errors.ts';
import type { Store } from '../../../store/index.ts';
import type { FlappingRule } from '../../../core/history/flapping.ts';
import { feedEventCount, feedEventPage, type FeedEvent } from '../../../store/repos/observation-events.ts';
import { recentRunStates } from '../../../store/repos/runs.ts';
import { EVENT_TYPES } from '../../../store/schema/observation-events.ts';
import { requireRole } from '../../auth.ts';
import { errors, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { eventJson } from '../history/schemas.ts';
import { eventIdFloor, eventIdTime } from './cursor.ts';
import { streamSlotsOf } from './streams.ts';

/**
 * Server-Sent Events: observation events (appeared/changed/gone/reappeared) and
 * run progress. The feed reads the database, not an in-process bus, so it shows
 * what every process writes (embedded runner, Temporal workers, `plum import`).
 *
 * Paging: the event id (a UUIDv7 typeid, time-ordered, the primary key) is the
 * cursor: each poll reads events with an id strictly after the last one sent, a
 * page at a time, and yields to the event loop between pages, so a burst of
 * events cannot pin a poll in place or starve other requests.
 *
 * Late commits: ids are made before their transaction commits, so two concurrent
 * ingests can commit out of id order. When the feed has caught up, it counts the
 * events in a trailing window (REORDER_WINDOW_MS of id time) and, only if there
 * are more than it sent, pages through the window for the missing ones. Delivery
 * is at-least-once on reconnect (Last-Event-ID re-reads the window before it),
 * never silently lossy within the window.
 *
 * Waking: with the server's events signal (LISTEN), a poll runs as soon as
 * events commit in any process; ssePollMs remains the fallback and the pace of
 * run progress.
 *
 * Each API key may hold `sseStreamsPerKey` streams and the server `sseStreamsTotal`;
 * beyond that the request is refused with 429.
 */
const REORDER_WINDOW_MS = 10_000;
const BATCH = 500;

const Query = z.object({
  types: z
    .string()
    .regex(
      /^(appeared|changed|gone|reappeared)(,(appeared|changed|gone|reappeared))*$/,
      'must be a comma-separated list of appeared, changed, gone, reappeared',
    )
    .optional(),
  runs: z.enum(['true', 'false']).default('true').openapi({ description: 'include run progress events' }),
  since: z.iso.datetime({ offset: true }).optional().openapi({ description: 'replay observation events recorded since this time' }),
});

export const route = createRoute({
  method: 'get',
  path: '/v1/events',
  tags: ['events'],
  summary: 'Stream observation events and run progress (Server-Sent Events)',
  description:
    'Event names: `observation` (data: an ObservationEvent, as GET /v1/history returns it: {id,type,ip,protocol,port,at,hsh256,previousHsh256,observationId,previousObservationId,runId,jobId,changes,flapping}) and `run` (data: {id,kind,status,progress,counters}). Reconnect with Last-Event-ID to resume.',
  security,
  middleware: [requireRole('viewer')] as const,
  request: { query: Query },
  responses: {
    200: { description: 'An event stream', content: { 'text/event-stream': { schema: z.string() } } },
    ...errors(400, 401, 403, 429),
  },
});

/** One page of events with after < id <= upTo (upTo optional), in id order. */
const eventPage = (store: Store, flapping: FlappingRule, types: string, after: string, upTo?: string): Promise<FeedEvent[]> =>
  feedEventPage(store, types, BATCH, flapping, after, upTo);

/** Lets other requests (and signals) run between pages even when every await resolves at once (PGlite). */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const q = c.req.valid('query');
      const deps = c.var.deps;
      const { store, limits, log } = deps;
      const types = `{${(q.types ? q.types.split(',') : [...EVENT_TYPES]).join(',')}}`;
      const lastEventId = c.req.header('last-event-id');
      /** Every event with an id after `cursor` is still to send. */
      let cursor: string;
      /** Nothing before this id is sent (the start asked for); none on resume, which re-reads the window. */
      let floor = '';
      /** Ids sent within the reorder window, so a re-read does not send them twice. */
      const seen = new Set<string>();
      if (lastEventId !== undefined) {
        let valid = /^evt_[0-9a-z]{26}$/.test(lastEventId);
        if (valid) {
          try {
            eventIdTime(lastEventId);
          } catch {
            valid = false;
          }
        }
        if (!valid) throw new PlumError('invalid_input', 'Last-Event-ID is not an evt_… id', { hint: 'reconnect without Last-Event-ID' });
        cursor = lastEventId;
        seen.add(lastEventId);
      } else {
        cursor = floor = eventIdFloor(q.since ? new Date(q.since).getTime() : Date.now());
      }
      const release = streamSlotsOf(deps, limits).acquire(c.var.principal.name);
      const runState = new Map<string, string>();

      return streamSSE(c, async (stream) => {
        stream.onAbort(release);
        const closed = new AbortController();
        stream.onAbort(() => closed.abort());
        let lastWrite = Date.now();
        const send = async (r: FeedEvent) => {
          seen.add(r.id);
          await stream.writeSSE({
            id: r.id,
            event: 'observation',
            // The same projection as GET /v1/history and a host's history (ObservationEvent).
            data: JSON.stringify(eventJson(r)),
          });
          lastWrite = Date.now();
        };
        /** Sends what committed late inside the window behind the cursor, if anything did. */
        const sendLateCommits = async () => {
          const windowStart = eventIdFloor(eventIdTime(cursor) - REORDER_WINDOW_MS);
          const from = windowStart > floor ? windowStart : floor;
          for (const id of seen) if (id < from) seen.delete(id);
          if ((await feedEventCount(store, types, from, cursor)) <= seen.size) return;
          let after = from < cursor ? from : cursor;
          for (;;) {
            const page = await eventPage(store, deps.config.PLUM_FLAPPING, types, after, cursor);
            for (const r of page) if (!seen.has(r.id)) await send(r);
            if (page.length < BATCH || stream.aborted) return;
            after = page[page.length - 1]!.id;
            await yieldToEventLoop();
          }
        };
        try {
          while (!stream.aborted && !stream.closed) {
            const rows = await eventPage(store, deps.config.PLUM_FLAPPING, types, cursor);
            for (const r of rows) {
              if (!seen.has(r.id)) await send(r);
              cursor = r.id;
            }
            if (rows.length === BATCH) {
              // More are waiting: read on at once, but let the rest of the server run first.
              await yieldToEventLoop();
              continue;
            }
            await sendLateCommits();

            if (q.runs === 'true') {
              const runs = await recentRunStates(store);
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
            // Woken by the commit of new events; the poll interval stays as the fallback (and for run progress).
            if (deps.events) await deps.events.wait(limits.ssePollMs, closed.signal);
            else await stream.sleep(limits.ssePollMs);
          }
        } catch (e) {
          log.warn({ err: e }, 'event stream poll failed');
          await stream
            .writeSSE({ event: 'error', data: JSON.stringify({ code: 'unavailable', message: 'event feed interrupted; reconnect with Last-Event-ID' }) })
            .catch(() => {});
        } finally {
          release();
        }
      }) as never;
    });
  },
} satisfies RouteModule;
