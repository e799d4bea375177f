import type { Command } from 'commander';
import { PlumError } from '../../core/errors.ts';
import { parseQuery } from '../../core/query/index.ts';
import { deliverPayload, dispatchWebhookEvents } from '../../activities/webhooks.ts';
import { saveWebhook } from '../../api/views/reports.ts';
import { deleteWebhook, findWebhook, listDeliveries, listWebhookStatus, WEBHOOK_EVENT_TYPES } from '../../store/repos/webhooks.ts';
import type { CliContext } from '../context.ts';
import { formatOption, info, printJson, printTable } from '../output.ts';
import { openCommandStore } from './init.ts';

export function register(program: Command, ctx: CliContext): void {
  const webhook = program
    .command('webhook')
    .description('webhooks receiving new events (appeared/changed/reappeared) of a saved query or report, signed with HMAC-SHA256');

  webhook
    .command('add')
    .description('register a webhook; its signing secret is printed once')
    .argument('<name>', 'webhook name')
    .requiredOption('--url <url>', 'http(s) URL receiving POSTs')
    .option('--query <q>', 'only events on ports matching this query; default: every event', '')
    .option('--report <name>', 'use the query of this stored report (and receive its runs)')
    .option('--events <types>', `event types, comma-separated (${WEBHOOK_EVENT_TYPES.join(', ')})`, 'appeared,changed,reappeared')
    .addOption(formatOption())
    .action(async (name: string, opts: { url: string; query: string; report?: string; events: string; format: string }) => {
      if (opts.query.trim()) parseQuery(opts.query);
      if (opts.report && opts.query.trim())
        throw new PlumError('usage', '--report and --query cannot be combined', { hint: 'a report webhook uses the report query' });
      const store = await openCommandStore(ctx, { create: true });
      const hook = await saveWebhook(
        store,
        {
          name,
          url: opts.url,
          query: opts.query,
          report: opts.report,
          eventTypes: opts.events
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        },
        { allowPrivate: ctx.config.PLUM_WEBHOOK_ALLOW_PRIVATE },
      );
      if (opts.format === 'json') {
        printJson({ id: hook.id, name: hook.name, url: hook.url, query: hook.query, event_types: hook.eventTypes, secret: hook.secret });
        return;
      }
      info(`plum: webhook ${hook.name} (${hook.id}) → ${hook.url}`);
      info(`plum: signing secret (shown once): ${hook.secret}`);
      info('plum: receivers check X-Plum-Signature = "sha256=" + hex HMAC-SHA256(secret, X-Plum-Timestamp + "." + body)');
    });

  webhook
    .command('list')
    .description('list webhooks with delivery counts and the last failure')
    .addOption(formatOption())
    .action(async (opts: { format: string }) => {
      const store = await openCommandStore(ctx);
      const list = await listWebhookStatus(store);
      if (opts.format === 'json') {
        printJson(list);
        return;
      }
      printTable(
        list.map((w) => ({
          ...w,
          query: w.report ? `report ${w.report}` : w.query || '(every event)',
          events: w.eventTypes.join(','),
          last: w.lastDeliveryAt ? `${w.lastStatus} ${w.lastDeliveryAt.slice(0, 16)}` : 'never',
        })),
        ['name', 'url', 'query', 'events', 'delivered', 'pending', 'failed', 'last', 'lastError'],
        ['name', 'url', 'query', 'events', 'ok', 'pending', 'failed', 'last', 'last error'],
      );
    });

  webhook
    .command('deliveries')
    .description('recent deliveries of a webhook (status, attempts, errors)')
    .argument('<name>', 'webhook name or id')
    .option('--limit <n>', 'how many', '20')
    .addOption(formatOption())
    .action(async (name: string, opts: { limit: string; format: string }) => {
      const store = await openCommandStore(ctx);
      const hook = await findWebhook(store, name);
      if (!hook) throw new PlumError('not_found', `no webhook "${name}"`, { hint: 'list them with `plum webhook list`' });
      const rows = await listDeliveries(store, hook.id, Math.max(1, Math.min(1000, Number(opts.limit) || 20)));
      const out = rows.map((d) => ({
        id: d.id,
        kind: d.kind,
        status: d.status,
        events: d.eventCount,
        attempts: d.attempts,
        http: d.responseStatus,
        error: d.error,
        created_at: d.createdAt.toISOString(),
        next_attempt_at: d.nextAttemptAt?.toISOString() ?? null,
      }));
      if (opts.format === 'json') printJson(out);
      else printTable(out, ['id', 'kind', 'status', 'events', 'attempts', 'http', 'created_at', 'next_attempt_at', 'error']);
    });

  webhook
    .command('dispatch')
    .description('send new matching events now and retry due failed deliveries (the scheduler does this after each scan)')
    .addOption(formatOption())
    .action(async (opts: { format: string }) => {
      const store = await openCommandStore(ctx);
      const s = await dispatchWebhookEvents(store, { log: ctx.log, allowPrivate: ctx.config.PLUM_WEBHOOK_ALLOW_PRIVATE, flapping: ctx.config.PLUM_FLAPPING });
      if (opts.format === 'json') printJson(s);
      else info(`plum: ${s.events} events in ${s.deliveries} deliveries to ${s.webhooks} webhooks; ${s.failed} failed (will retry); ${s.retried} retries`);
      if (s.failed > 0) process.exitCode = 1;
    });

  webhook
    .command('test')
    .description('send a signed test payload to a webhook')
    .argument('<name>', 'webhook name or id')
    .action(async (name: string) => {
      const store = await openCommandStore(ctx);
      const hook = await findWebhook(store, name);
      if (!hook) throw new PlumError('not_found', `no webhook "${name}"`, { hint: 'list them with `plum webhook list`' });
      const r = await deliverPayload(store, hook, 'events', { type: 'test', webhook: hook.name, events: [] }, 0, {
        log: ctx.log,
        immediateAttempts: 1,
        allowPrivate: ctx.config.PLUM_WEBHOOK_ALLOW_PRIVATE,
      });
      if (!r.ok)
        throw new PlumError('unavailable', `test delivery to ${hook.url} failed: ${r.error}`, {
          hint: 'check the URL and that the receiver answers 2xx; it will be retried with backoff',
        });
      info(`plum: test delivery ${r.delivery} accepted by ${hook.url}`);
    });

  webhook
    .command('rm')
    .description('remove a webhook and its delivery history')
    .argument('<name>', 'webhook name or id')
    .action(async (name: string) => {
      const store = await openCommandStore(ctx);
      const removed = await deleteWebhook(store, name);
      info(`plum: removed webhook ${removed.name}`);
    });
}
