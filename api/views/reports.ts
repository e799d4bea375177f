import { PlumError, usageError } from '../../core/errors.ts';
import { parseQuery } from '../../core/query/index.ts';
import type { Store } from '../../store/index.ts';
import { createReportDefinition, getReportDefinition, parseDestination, type ReportDefinitionRow } from '../../store/repos/reports.ts';
import { createWebhook, type WebhookRow } from '../../store/repos/webhooks.ts';

export interface SaveReportInput {
  name: string;
  query: string;
  every: string;
  period?: string;
  /** dir:PATH, webhook:URL or mailto:ADDR. */
  destinations: string[];
  description?: string;
  hostLimit?: number;
}

export interface SaveOptions {
  /** PLUM_WEBHOOK_ALLOW_PRIVATE. */
  allowPrivate: boolean;
  /**
   * dir: recipients write files on the server's disk as the server's user:
   * the CLI (run on that machine) may set them, the web pages may not.
   */
  allowDirectories?: boolean;
}

/** A query given to a report or webhook must parse (an empty one means everything). */
function checkQuery(query: string): void {
  if (query.trim()) parseQuery(query);
}

/**
 * Stores a scheduled report, as `plum report add` and the search page do it:
 * the query and every recipient are checked first, then the definition and a
 * webhook per webhook: recipient (it gets the report and the report query's
 * new events) are written in one transaction, so a refused webhook leaves no
 * half-made report behind.
 */
export async function saveReport(store: Store, input: SaveReportInput, opts: SaveOptions): Promise<{ def: ReportDefinitionRow; hooks: WebhookRow[] }> {
  checkQuery(input.query);
  const destinations = input.destinations.map((d) => d.trim()).filter(Boolean);
  const parsed = destinations.map(parseDestination);
  if (!opts.allowDirectories && parsed.some((d) => d.kind === 'dir')) {
    throw usageError('dir: recipients cannot be set from here', 'use webhook:URL or mailto:ADDR, or `plum report add --to dir:PATH` on the server');
  }
  return store.transaction(async (tx) => {
    const def = await createReportDefinition(tx, {
      name: input.name,
      query: input.query,
      every: input.every,
      period: input.period,
      destinations,
      description: input.description,
      hostLimit: input.hostLimit,
    });
    const hooks: WebhookRow[] = [];
    for (const d of parsed) {
      if (d.kind !== 'webhook') continue;
      const i = hooks.length;
      hooks.push(
        await createWebhook(tx, { name: `${input.name}:webhook${i ? `-${i}` : ''}`, url: d.url, reportId: def.id }, new Date(), {
          allowPrivate: opts.allowPrivate,
        }),
      );
    }
    return { def, hooks };
  });
}

export interface SaveWebhookInput {
  name: string;
  url: string;
  query: string;
  /** Use this stored report's query (and receive its runs) instead of `query`. */
  report?: string;
  eventTypes: string[];
}

/** Registers a webhook on a query or a report, as `plum webhook add` and the search page do it. */
export async function saveWebhook(store: Store, input: SaveWebhookInput, opts: SaveOptions): Promise<WebhookRow> {
  checkQuery(input.query);
  if (input.report && input.query.trim()) {
    throw new PlumError('usage', 'a webhook follows either a query or a report, not both', { hint: 'a report webhook uses the report query' });
  }
  const reportId = input.report ? (await getReportDefinition(store, input.report)).id : undefined;
  return createWebhook(store, { name: input.name, url: input.url, query: input.query, reportId, eventTypes: input.eventTypes }, new Date(), {
    allowPrivate: opts.allowPrivate,
  });
}
