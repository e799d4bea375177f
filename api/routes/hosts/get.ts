import { createRoute, z } from '@hono/zod-openapi';
import { PlumError } from '../../../core/errors.ts';
import { loadScoreConfig, scoreFileOf, scoreHost, type ScoreConfig } from '../../../core/score.ts';
import { getHostView, type HistoryEvent, type HostService } from '../../../store/repos/observations.ts';
import { requireRole } from '../../auth.ts';
import { errors, jsonContent, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { EventSchema, eventJson } from '../history/schemas.ts';

const Feature = z.object({
  name: z.string(),
  value: z.union([z.string(), z.number(), z.array(z.string()), z.null()]),
  normalized: z.number(),
  weight: z.number(),
  contribution: z.number(),
  percent: z.number(),
});
const Service = z.object({
  id: z.string(), protocol: z.string(), port: z.number(), state: z.enum(['open', 'closed']), hsh256: z.string(), fpVersion: z.number(),
  firstSeen: z.string(), lastSeen: z.string(), timesSeen: z.number(), stateChangedAt: z.string(), hostnames: z.array(z.string()),
  fields: z.record(z.string(), z.array(z.string())), tags: z.array(z.string()), score: z.number(),
  scoreFeatures: z.record(z.string(), z.unknown()).nullable(),
});
const Host = z.object({
  ip: z.string(),
  firstSeen: z.string().nullable(),
  lastSeen: z.string().nullable(),
  hostnames: z.array(z.string()),
  tags: z.array(z.string()),
  score: z.object({ score: z.number(), band: z.string(), features: z.array(Feature) }).openapi({ description: 'Host exposure score over its open ports, with every feature\'s contribution' }),
  services: z.array(Service),
  history: z.array(EventSchema),
}).openapi('Host');

export const route = createRoute({
  method: 'get',
  path: '/v1/hosts/{ip}',
  tags: ['hosts'],
  summary: 'A host: current services, history and score explanation',
  security,
  middleware: [requireRole('viewer')] as const,
  request: {
    params: z.object({ ip: z.string().min(2).max(45).regex(/^[0-9a-fA-F:.]+$/, 'must be an IPv4 or IPv6 address').openapi({ param: { name: 'ip', in: 'path' } }) }),
    query: z.object({ events: z.coerce.number().int().min(0).max(10_000).default(1000).openapi({ description: 'most recent events to return' }) }),
  },
  responses: { 200: jsonContent(Host, 'The host'), ...errors(400, 401, 403, 404) },
});

/** Score weights by file, read once per file (servers in one process may name different files). */
const scoreConfigs = new Map<string, Promise<ScoreConfig>>();

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { ip } = c.req.valid('param');
      const { events } = c.req.valid('query');
      const { store } = c.var.deps;
      const view = await getHostView(store, ip, { eventLimit: events });
      if (!view) throw new PlumError('not_found', `nothing is known about ${ip}`, { hint: 'scan it, or import a scan that covers it' });
      const feats = await store.query<{ id: string; score_features: Record<string, unknown> | null }>(
        'select id, score_features from port_observations where ip = $1::inet and current', [view.ip]);
      const featuresOf = new Map(feats.map((f) => [f.id, f.score_features]));
      const open = view.services.filter((s) => s.state === 'open');
      const lastChange = new Map<string, Date>();
      for (const e of view.events as HistoryEvent[]) {
        const k = `${e.protocol}/${e.port}`;
        if (e.type === 'changed' && !lastChange.has(k)) lastChange.set(k, e.at);
      }
      const scoreFile = scoreFileOf(c.var.deps.config);
      if (!scoreConfigs.has(scoreFile)) scoreConfigs.set(scoreFile, loadScoreConfig(scoreFile));
      const cfg = await scoreConfigs.get(scoreFile)!.catch((e) => {
        scoreConfigs.delete(scoreFile);
        throw e;
      });
      const score = scoreHost(open.map((s) => ({
        tags: s.tags, firstSeen: s.first_seen, changedAt: lastChange.get(`${s.protocol}/${s.port}`) ?? null, at: s.last_seen,
      })), cfg);
      const svc = (s: HostService) => ({
        id: s.id, protocol: s.protocol, port: s.port, state: s.state, hsh256: s.hsh256, fpVersion: s.fp_version,
        firstSeen: s.first_seen.toISOString(), lastSeen: s.last_seen.toISOString(), timesSeen: s.times_seen,
        stateChangedAt: s.state_changed_at.toISOString(), hostnames: s.hostnames, fields: s.fields as unknown as Record<string, string[]>,
        tags: s.tags, score: s.score, scoreFeatures: featuresOf.get(s.id) ?? null,
      });
      return c.json({
        ip: view.ip,
        firstSeen: view.first_seen?.toISOString() ?? null,
        lastSeen: view.last_seen?.toISOString() ?? null,
        hostnames: view.hostnames,
        tags: view.tags,
        score,
        services: view.services.map(svc),
        history: view.events.map(eventJson),
      }, 200);
    });
  },
} satisfies RouteModule;
