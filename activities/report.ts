import fs from 'node:fs/promises';
import nodemailer from 'nodemailer';
import path from 'node:path';
import type { PlumConfig } from '../core/config.ts';
import { formatDuration, parseDuration } from '../core/duration.ts';
import { PlumError, toPlumError } from '../core/errors.ts';
import { silentLogger, type Logger } from '../core/log.ts';
import { renderReportMarkdown } from '../core/report/markdown.ts';
import { CHANGE_TYPES, type ReportModel, type ReportPeriod } from '../core/report/model.ts';
import { resolvePeriod } from '../core/report/period.ts';
import type { Store } from '../store/index.ts';
import {
  getReportDefinition,
  markReportRun,
  dueReportDefinitions,
  claimDueReport,
  parseDestination,
  type ReportDefinitionRow,
} from '../store/repos/reports.ts';
import { webhooksOfReport } from '../store/repos/webhooks.ts';
import { deliverPayload, dispatchWebhookEvents, type WebhookDeps } from './webhooks.ts';
import { buildReportModel } from './report-model.ts';
import { reportSettingsOf } from './report-settings.ts';

export * from '../store/repos/observation-rows.ts';
export * from './export.ts';
export * from './report-model.ts';

/*
 * Report definitions: the one code path for preview and scheduled runs, and their delivery (directory, webhook,
 * e-mail). The report model is built in report-model.ts, exports in export.ts, rows read in store/repos/observation-rows.ts.
 */

export interface ReportDeps {
  store: Store;
  config?: PlumConfig;
  log?: Logger;
  /** HTTP client for webhook delivery (global fetch by default). */
  fetch?: typeof fetch;
  /** Sends a report by e-mail; wired from PLUM_SMTP_URL by the caller. */
  sendMail?: (msg: { to: string; subject: string; text: string; attachmentName: string }) => Promise<void>;
  /** Retry tuning for webhook deliveries (tests shorten it). */
  webhook?: Partial<WebhookDeps>;
}

export interface DeliveryOutcome {
  destination: string;
  ok: boolean;
  detail: string;
}

export interface ReportRunResult {
  definition: ReportDefinitionRow;
  model: ReportModel;
  markdown: string;
  /** Empty on preview. */
  deliveries: DeliveryOutcome[];
  status: 'ok' | 'partial' | 'failed' | 'preview';
}

export function reportFileName(def: Pick<ReportDefinitionRow, 'name'>, period: ReportPeriod): string {
  const stamp = period.to.slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
  return `${def.name}-${stamp}.md`;
}

/** Writes atomically (temp file + rename) so a reader never sees half a report. */
async function writeAtomic(file: string, text: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    await fs.writeFile(tmp, text, 'utf8');
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

export { writeAtomic as writeReportFile };

/**
 * Runs a stored report definition: computes the period ending now with the
 * definition's length, renders it and (unless `preview`) delivers it to every
 * destination and records the outcome. The embedded scheduler and the Temporal
 * schedule (D) call this; `plum report run NAME --preview` calls it too, so
 * preview and delivery show the same text.
 */
export async function runReportDefinition(deps: ReportDeps, idOrName: string, opts: { preview?: boolean; now?: Date } = {}): Promise<ReportRunResult> {
  const log = deps.log ?? silentLogger;
  const now = opts.now ?? new Date();
  const def = await getReportDefinition(deps.store, idOrName);
  const len = parseDuration(def.period ?? def.every, 'report period');
  const period = resolvePeriod({ since: formatDuration(len) }, now);
  const model = await buildReportModel(deps.store, {
    title: `Plum report ${def.name}`,
    description: def.description ?? undefined,
    query: def.query,
    period,
    hostLimit: def.hostLimit,
    now,
    // Score weights (PLUM_SCORE_FILE) and flapping rule, read as every other report reads them.
    ...(await reportSettingsOf(deps.config, log)),
  });
  const markdown = renderReportMarkdown(model);
  if (opts.preview) return { definition: def, model, markdown, deliveries: [], status: 'preview' };

  const deliveries: DeliveryOutcome[] = [];
  const hooks = await webhooksOfReport(deps.store, def.id);
  for (const d of def.destinations) {
    try {
      const dest = parseDestination(d);
      if (dest.kind === 'dir') {
        const file = path.resolve(deps.config?.home ?? process.cwd(), dest.path, reportFileName(def, period));
        await writeAtomic(file, markdown);
        deliveries.push({ destination: d, ok: true, detail: file });
      } else if (dest.kind === 'webhook') {
        const hook = hooks.find((h) => h.url === dest.url);
        if (!hook) throw new PlumError('not_found', `no webhook registered for ${dest.url}`, { hint: `re-create the report with \`plum report add\`` });
        const payload = {
          type: 'report',
          report: def.name,
          query: def.query,
          period: { from: period.from, to: period.to },
          totals: model.totals,
          changes: Object.fromEntries(CHANGE_TYPES.map((t) => [t, model.changes[t].length])),
          markdown,
        };
        const r = await deliverPayload(deps.store, hook, 'report', payload, 0, {
          fetch: deps.fetch,
          log,
          now,
          allowPrivate: deps.config?.PLUM_WEBHOOK_ALLOW_PRIVATE,
          ...deps.webhook,
        });
        deliveries.push({ destination: d, ok: r.ok, detail: r.ok ? `delivered (${r.delivery})` : `failed: ${r.error} (will retry, ${r.delivery})` });
      } else {
        if (!deps.sendMail)
          throw new PlumError('unavailable', 'e-mail delivery needs PLUM_SMTP_URL', {
            hint: 'set PLUM_SMTP_URL (and PLUM_SMTP_FROM) or use a dir: or webhook: destination',
          });
        await deps.sendMail({ to: dest.address, subject: model.title, text: markdown, attachmentName: reportFileName(def, period) });
        deliveries.push({ destination: d, ok: true, detail: `sent to ${dest.address}` });
      }
    } catch (e) {
      const err = toPlumError(e);
      log.warn({ report: def.name, destination: d, err: err.message }, 'report delivery failed');
      deliveries.push({ destination: d, ok: false, detail: err.oneLine() });
    }
  }
  const failed = deliveries.filter((d) => !d.ok).length;
  const status = failed === 0 ? 'ok' : failed === deliveries.length ? 'failed' : 'partial';
  await markReportRun(deps.store, def.id, {
    at: now,
    status,
    error: failed
      ? deliveries
          .filter((d) => !d.ok)
          .map((d) => `${d.destination}: ${d.detail}`)
          .join('; ')
      : undefined,
    nextRunAt: nextReportRun(def.nextRunAt ?? now, def.every, now),
  });
  return { definition: def, model, markdown, deliveries, status };
}

/**
 * E-mail delivery through PLUM_SMTP_URL (smtp://user:pass@host:port or smtps://…);
 * undefined when SMTP is not configured. The report goes as the text body and as
 * a Markdown attachment.
 */
export function createSmtpMailer(config: Pick<PlumConfig, 'PLUM_SMTP_URL' | 'PLUM_SMTP_FROM'>): ReportDeps['sendMail'] {
  if (!config.PLUM_SMTP_URL) return undefined;
  const transport = nodemailer.createTransport(config.PLUM_SMTP_URL);
  const from = config.PLUM_SMTP_FROM ?? 'plum@localhost';
  return async (msg) => {
    try {
      await transport.sendMail({
        from,
        to: msg.to,
        subject: msg.subject,
        text: msg.text,
        attachments: [{ filename: msg.attachmentName, content: msg.text, contentType: 'text/markdown; charset=utf-8' }],
      });
    } catch (e) {
      throw new PlumError('unavailable', `e-mail to ${msg.to} failed: ${(e as Error).message}`, {
        cause: e,
        hint: 'check PLUM_SMTP_URL and that the SMTP server accepts the sender and recipient',
      });
    }
  };
}

/** Next run: the next multiple of the cadence after now, anchored on the previous schedule (no drift, no burst after downtime). */
function nextReportRun(previous: Date, every: string, now: Date): Date {
  const everyMs = parseDuration(every, 'report cadence');
  let next = previous.getTime();
  while (next <= now.getTime()) next += everyMs;
  return new Date(next);
}

/** Runs every due report definition once (the embedded scheduler's tick). */
export async function runDueReports(deps: ReportDeps, now = new Date()): Promise<ReportRunResult[]> {
  const due = await dueReportDefinitions(deps.store, now);
  const out: ReportRunResult[] = [];
  for (const def of due) {
    // Claim the slot first (compare-and-set on next_run_at): another scheduler on the same
    // database that polled the same definition then finds it claimed and skips it.
    if (!def.nextRunAt || !(await claimDueReport(deps.store, def.id, def.nextRunAt, nextReportRun(def.nextRunAt, def.every, now)))) continue;
    try {
      out.push(await runReportDefinition(deps, def.id, { now }));
    } catch (e) {
      const err = toPlumError(e);
      (deps.log ?? silentLogger).error({ report: def.name, err: err.message }, 'scheduled report failed');
      await markReportRun(deps.store, def.id, { at: now, status: 'failed', error: err.oneLine(), nextRunAt: nextReportRun(def.nextRunAt, def.every, now) });
    }
  }
  return out;
}

/**
 * Activity factory for the runners (D): the embedded scheduler and a Temporal
 * schedule call these; results are small and serialisable (no report text).
 * Delivery failures are not thrown (they are recorded and retried with
 * backoff); an unknown definition is a non-retryable PlumError ('not_found').
 */
export function createReportActivities(deps: ReportDeps) {
  const summary = (r: ReportRunResult) => ({
    report: r.definition.name,
    status: r.status,
    period: { from: r.model.period.from, to: r.model.period.to },
    totals: r.model.totals,
    deliveries: r.deliveries,
  });
  return {
    async runReportDefinition(id: string) {
      return summary(await runReportDefinition(deps, id));
    },
    async runDueReports() {
      return (await runDueReports(deps)).map(summary);
    },
    async dispatchWebhookEvents() {
      return dispatchWebhookEvents(deps.store, {
        log: deps.log,
        allowPrivate: deps.config?.PLUM_WEBHOOK_ALLOW_PRIVATE,
        flapping: deps.config?.PLUM_FLAPPING,
        ...deps.webhook,
      });
    },
  };
}
