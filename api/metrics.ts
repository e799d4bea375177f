import type { MiddlewareHandler } from 'hono';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ApiEnv, ResolvedDeps } from './context.ts';
import { jobsByStatus, queuedJobCount } from '../store/repos/jobs.ts';
import { runCounterTotals, runsByStatus } from '../store/repos/runs.ts';
import { pendingDeliveryCount } from '../store/repos/webhooks.ts';

/*
 * Prometheus metrics of GET /metrics. Two sources:
 * - the database, read at each scrape: runs and jobs by state, the job queue, the webhook backlog, and the
 *   ingest totals (sums of the runs' counters). Reading them from the database makes them the same whichever
 *   process did the work (embedded runner, Temporal worker, agent uploads, `plum ingest`), and right after a
 *   restart; the tables they read are small (runs, jobs, pending deliveries).
 * - this process: request and search latency histograms.
 * One registry per API instance (never prom-client's global one): several servers may share a process.
 */

export interface ApiMetrics {
  registry: Registry;
  httpSeconds: Histogram<'method' | 'route' | 'status'>;
  searchSeconds: Histogram<'kind' | 'status'>;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The ingest totals, named after the runs' counters they sum (core/counts.ts ChangeCounts). */
const INGEST_COUNTERS = [
  ['hosts', 'plum_ingested_hosts_total', 'Hosts read from nmap results (runs and imports)'],
  ['ports', 'plum_ingested_ports_total', 'Open ports read from nmap results (runs and imports)'],
] as const;
const CHANGE_TYPES = ['appeared', 'changed', 'gone', 'reappeared'] as const;

const all = new WeakMap<ResolvedDeps, ApiMetrics>();

export function apiMetrics(deps: ResolvedDeps): ApiMetrics {
  let m = all.get(deps);
  if (m) return m;
  const registry = new Registry();
  const store = deps.store;
  collectDefaultMetrics({ register: registry, prefix: 'plum_' });

  new Gauge({
    name: 'plum_runs',
    help: 'Runs and imports by status',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [k, n] of await runsByStatus(store)) this.set({ status: k }, n);
    },
  });
  new Gauge({
    name: 'plum_jobs',
    help: 'Jobs by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [k, n] of await jobsByStatus(store)) this.set({ state: k }, n);
    },
  });
  new Gauge({
    name: 'plum_job_queue_depth',
    help: 'Jobs planned and waiting for a scanner (status queued)',
    registers: [registry],
    async collect() {
      this.set(await queuedJobCount(store));
    },
  });
  new Gauge({
    name: 'plum_webhook_backlog',
    help: 'Webhook deliveries waiting to be sent or retried (status pending)',
    registers: [registry],
    async collect() {
      this.set(await pendingDeliveryCount(store));
    },
  });
  // Counters set from the database at each scrape: monotonic as long as runs are kept, which they are.
  const ingestTotals = () => runCounterTotals(store, [...INGEST_COUNTERS.map(([k]) => k), ...CHANGE_TYPES]);
  for (const [key, name, help] of INGEST_COUNTERS) {
    new Counter({
      name,
      help,
      registers: [registry],
      async collect() {
        this.reset();
        this.inc(Number((await ingestTotals())[key] ?? 0));
      },
    });
  }
  new Counter({
    name: 'plum_observation_changes_total',
    help: 'History events recorded by ingests, by type',
    labelNames: ['type'],
    registers: [registry],
    async collect() {
      this.reset();
      const totals = await ingestTotals();
      for (const t of CHANGE_TYPES) this.inc({ type: t }, Number(totals[t] ?? 0));
    },
  });

  m = {
    registry,
    httpSeconds: new Histogram({
      name: 'plum_http_request_duration_seconds',
      help: 'HTTP API requests by route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    searchSeconds: new Histogram({
      name: 'plum_search_duration_seconds',
      help: 'GET /v1/search, by mode (structured or token) and status',
      labelNames: ['kind', 'status'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
  };
  all.set(deps, m);
  return m;
}

/** Times every request (by route template, never the raw path: ids would make a series each). */
export const observeRequests: MiddlewareHandler<ApiEnv> = async (c, next) => {
  const start = performance.now();
  try {
    await next();
  } finally {
    const seconds = (performance.now() - start) / 1000;
    const m = apiMetrics(c.var.deps);
    const status = String(c.res.status);
    // routePath is the matched template ("/v1/hosts/:ip"); unmatched requests share one series.
    const route = c.req.routePath && c.req.routePath !== '/*' && c.req.routePath !== '*' ? c.req.routePath : 'unmatched';
    m.httpSeconds.observe({ method: c.req.method, route, status }, seconds);
    if (c.req.path === '/v1/search') {
      m.searchSeconds.observe({ kind: c.req.query('mode') === 'token' ? 'token' : 'structured', status }, seconds);
    }
  }
};
