import type { Context, Hono } from 'hono';
import { runReportDefinition } from '../../activities/report.ts';
import { PlumError } from '../../core/errors.ts';
import { listReportDefinitions, REPORT_NAME_RE } from '../../store/repos/reports.ts';
import { listDeliveries, listWebhookStatus, findWebhook, type WebhookRow } from '../../store/repos/webhooks.ts';
import type { WebEnv } from '../context.ts';
import { guard } from '../guard.ts';
import { render, When } from '../layout.tsx';

/** What was just saved (from the search page): a message, and the signing secret of each new webhook, shown once. */
export interface Saved {
  message: string;
  hooks: Pick<WebhookRow, 'name' | 'secret'>[];
}

export async function reportsPage(c: Context<WebEnv>, saved?: Saved) {
  const [defs, hooks] = await Promise.all([listReportDefinitions(c.var.deps.store), listWebhookStatus(c.var.deps.store)]);
  return render(
    c,
    'Reports and webhooks',
    <>
      {saved ? (
        <section class="secret" aria-label="Saved">
          <p class="flash ok" role="status">
            {saved.message}
          </p>
          {saved.hooks.map((h) => (
            <p>
              Signing secret of webhook {h.name} (copy it now, it is not shown again): <code class="secret-value">{h.secret}</code>
            </p>
          ))}
        </section>
      ) : null}
      <section>
        <h2>Report definitions</h2>
        {defs.length === 0 ? (
          <p>
            No report definition (save a search as a report, or use <code>plum report add</code>).
          </p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Report</th>
                <th scope="col">Query</th>
                <th scope="col">Every</th>
                <th scope="col">Destinations</th>
                <th scope="col">Last run</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {defs.map((d) => (
                <tr>
                  <td>
                    <a href={`/reports/${d.name}`}>{d.name}</a>
                  </td>
                  <td>
                    <code>{d.query}</code>
                  </td>
                  <td>{d.every}</td>
                  <td>{d.destinations.join(', ')}</td>
                  <td>
                    <When at={d.lastRunAt} />
                  </td>
                  <td>
                    {d.lastStatus ?? ''}
                    {d.lastError ? ` (${d.lastError})` : ''}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section>
        <h2>Webhooks</h2>
        {hooks.length === 0 ? (
          <p>No webhook.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Webhook</th>
                <th scope="col">URL</th>
                <th scope="col">Query</th>
                <th scope="col">Events</th>
                <th scope="col">Delivered</th>
                <th scope="col">Pending</th>
                <th scope="col">Failed</th>
                <th scope="col">Last delivery</th>
              </tr>
            </thead>
            <tbody>
              {hooks.map((h) => (
                <tr>
                  <td>
                    <a href={`/reports/webhooks/${h.name}`}>{h.name}</a>
                    {h.enabled ? '' : ' (disabled)'}
                  </td>
                  <td>{h.url}</td>
                  <td>{h.report ? `report ${h.report}` : <code>{h.query || '(every event)'}</code>}</td>
                  <td>{h.eventTypes.join(', ')}</td>
                  <td>{h.delivered}</td>
                  <td>{h.pending}</td>
                  <td>{h.failed}</td>
                  <td>
                    <When at={h.lastDeliveryAt} /> {h.lastStatus ?? ''}
                    {h.lastError ? ` (${h.lastError})` : ''}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>,
  );
}

export function registerReports(web: Hono<WebEnv>): void {
  web.get('/reports', ...guard('viewer'), (c) => reportsPage(c));

  web.get('/reports/webhooks/:name', ...guard('viewer'), async (c) => {
    const hook = await findWebhook(c.var.deps.store, c.req.param('name'));
    if (!hook) throw new PlumError('not_found', `no webhook ${c.req.param('name')}`, { hint: 'see the reports page' });
    const deliveries = await listDeliveries(c.var.deps.store, hook.id, 50);
    return render(
      c,
      `Webhook ${hook.name}`,
      <table>
        <caption>Latest deliveries</caption>
        <thead>
          <tr>
            <th scope="col">Created</th>
            <th scope="col">Status</th>
            <th scope="col">Attempts</th>
            <th scope="col">Last error</th>
          </tr>
        </thead>
        <tbody>
          {deliveries.map((d) => (
            <tr>
              <td>
                <When at={d.createdAt} />
              </td>
              <td>{d.status}</td>
              <td>{d.attempts}</td>
              <td>{d.error ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>,
    );
  });

  web.get('/reports/:name', ...guard('viewer'), async (c) => {
    const name = c.req.param('name');
    if (!REPORT_NAME_RE.test(name)) throw new PlumError('invalid_input', 'not a report name', { hint: 'open a report from the reports page' });
    const r = await runReportDefinition({ store: c.var.deps.store, config: c.var.deps.config }, name, { preview: true });
    if (c.req.query('download') === '1') {
      return c.body(r.markdown, 200, {
        'content-type': 'text/markdown; charset=utf-8',
        'content-disposition': `attachment; filename="${r.definition.name}.md"`,
      });
    }
    return render(
      c,
      `Report ${r.definition.name}`,
      <>
        <p>
          <a href={`/reports/${r.definition.name}?download=1`} download>
            Download (Markdown)
          </a>
        </p>
        <pre class="report">{r.markdown}</pre>
      </>,
    );
  });
}
