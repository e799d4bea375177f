import { createRoute, z } from '@hono/zod-openapi';
import { generateReport } from '../../../activities/report.ts';
import { reportSettingsOf } from '../../../activities/report-settings.ts';
import { runPeriod } from '../../../core/report/period.ts';
import { parseTarget } from '../../../core/targets.ts';
import { addressesSeenLastByRun } from '../../../store/repos/observations.ts';
import { runScanTimes } from '../../../store/repos/runs.ts';
import { expensive, requireRole } from '../../auth.ts';
import { errors, security } from '../../schemas.ts';
import type { RouteModule } from '../index.ts';
import { RunIdParam, loadRun } from '../runs/schemas.ts';

export const route = createRoute({
  method: 'get',
  path: '/v1/investigations/{id}/report',
  tags: ['investigations'],
  summary: "The investigation's Markdown report (its targets, from its start through its end, or now while it runs)",
  security,
  middleware: [requireRole('viewer'), expensive] as const,
  request: {
    params: RunIdParam,
    query: z.object({ format: z.enum(['markdown', 'json']).default('markdown') }),
  },
  responses: {
    200: {
      description: 'The report',
      content: { 'text/markdown': { schema: z.string() }, 'application/json': { schema: z.record(z.string(), z.unknown()) } },
    },
    ...errors(400, 401, 403, 404, 429),
  },
});

/** The investigation's address targets as a query (names are covered by the addresses they resolved to at scan time). */
function targetQuery(targets: string[], ips: string[]): string {
  const terms = new Set<string>();
  for (const t of targets) {
    try {
      const p = parseTarget(t);
      if (p.kind === 'ip') terms.add(`ip:${p.value}`);
      else if (p.kind === 'cidr') terms.add(`net:${p.value}`);
    } catch {
      // Stored targets were validated when the investigation started.
    }
  }
  for (const ip of ips) terms.add(`ip:${ip}`);
  return [...terms].join(' OR ');
}

export default {
  register(app) {
    app.openapi(route, async (c) => {
      const { id } = c.req.valid('param');
      const { format } = c.req.valid('query');
      const { store, config, log } = c.var.deps;
      const run = await loadRun(store, id, 'investigation');
      // Ranges and names: the addresses the run actually touched.
      const query = targetQuery(run.targets, await addressesSeenLastByRun(store, id)) || 'ip:0.0.0.0/32';
      const now = new Date();
      const period = runPeriod({ startedAt: run.started_at ?? run.created_at, finishedAt: run.finished_at }, await runScanTimes(store, id), now);
      const { model, markdown } = await generateReport(store, {
        title: `Investigation ${id}`,
        description: run.reason ?? `Urgent investigation of ${run.targets.slice(0, 5).join(', ')}${run.targets.length > 5 ? '…' : ''}`,
        query,
        period,
        now,
        ...(await reportSettingsOf(config, log)),
      });
      if (format === 'json') return c.json(model as unknown as Record<string, unknown>, 200);
      return c.body(markdown, 200, { 'content-type': 'text/markdown; charset=utf-8' }) as never;
    });
  },
} satisfies RouteModule;
