import type { Hono } from 'hono';
import { parseSince } from '../../core/duration.ts';
import { PlumError } from '../../core/errors.ts';
import { parseTarget } from '../../core/targets.ts';
import { listEvents } from '../../store/repos/observations.ts';
import { EVENT_TYPES, type EventType } from '../../store/schema/observation-events.ts';
import { eventJson } from '../../api/routes/history/schemas.ts';
import type { WebEnv } from '../context.ts';
import { guard } from '../guard.ts';
import { render, When } from '../layout.tsx';
import { Changes, FlappingBadge, type FieldChange } from './host.tsx';

const PAGE = 100;
const PERIODS = ['1d', '7d', '30d', '90d'];

export function registerChanges(web: Hono<WebEnv>): void {
  web.get('/changes', ...guard('viewer'), async (c) => {
    const now = new Date();
    const types =
      c.req
        .queries('types')
        ?.flatMap((t) => t.split(','))
        .filter((t): t is EventType => (EVENT_TYPES as readonly string[]).includes(t)) ?? [];
    const since = PERIODS.includes(c.req.query('since') ?? '') ? c.req.query('since')! : '7d';
    const netText = (c.req.query('net') ?? '').trim();
    const tag = (c.req.query('tag') ?? '').trim().slice(0, 200);
    const untilText = c.req.query('until');
    // The API's values (GET /v1/history?flapping=show|hide); the form's checkbox sends hide.
    const flapping = c.req.query('flapping') ?? 'show';
    if (flapping !== 'show' && flapping !== 'hide') {
      throw new PlumError('invalid_input', `flapping must be show or hide, not "${flapping.slice(0, 40)}"`, { hint: 'e.g. flapping=hide' });
    }
    let net: string | undefined;
    if (netText) {
      try {
        const t = parseTarget(netText);
        if (t.kind !== 'ip' && t.kind !== 'cidr') throw new Error('not an address');
        net = t.value;
      } catch {
        throw new PlumError('invalid_input', `"${netText.slice(0, 80)}" is not an address or CIDR`, { hint: 'e.g. 192.0.2.0/24' });
      }
    }
    const until = untilText && !Number.isNaN(Date.parse(untilText)) ? new Date(untilText) : undefined;
    const rows = await listEvents(c.var.deps.store, {
      since: parseSince(since, now, 'since'),
      until,
      types: types.length ? types : undefined,
      net,
      ...(tag ? { tag } : {}),
      flapping: c.var.deps.config.PLUM_FLAPPING,
      hideFlapping: flapping === 'hide',
      limit: PAGE + 1,
    });
    const more = rows.length > PAGE;
    const items = rows.slice(0, PAGE).map((e) => ({ ...eventJson(e), changes: (e as { changes?: FieldChange[] }).changes }));
    const next = new URL(c.req.url);
    if (more) next.searchParams.set('until', new Date(new Date(items[items.length - 1]!.at).getTime() - 1).toISOString());
    return render(
      c,
      'Changes',
      <>
        <form method="get" action="/changes" class="filters">
          <fieldset>
            <legend>Events</legend>
            {EVENT_TYPES.map((t) => (
              <label>
                <input type="checkbox" name="types" value={t} checked={types.includes(t)} /> {t}
              </label>
            ))}
          </fieldset>
          <label for="net">Network</label>
          <input id="net" name="net" value={netText} placeholder="192.0.2.0/24" />
          <label for="tag">Tag</label>
          <input id="tag" name="tag" value={tag} placeholder="product:nginx" />
          <label>
            <input type="checkbox" name="flapping" value="hide" checked={flapping === 'hide'} /> hide flapping ports' gone/reappeared
          </label>
          <label for="since">Period</label>
          <select id="since" name="since">
            {PERIODS.map((p) => (
              <option value={p} selected={p === since}>
                last {p}
              </option>
            ))}
          </select>
          <button type="submit">Filter</button>
        </form>
        {items.length === 0 ? (
          <p>No change in this period.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Event</th>
                <th scope="col">Host</th>
                <th scope="col">Port</th>
                <th scope="col">Differences</th>
              </tr>
            </thead>
            <tbody>
              {items.map((e) => (
                <tr class={`event ${e.type}`}>
                  <td>
                    <When at={e.at} />
                  </td>
                  <td>
                    {e.type} {e.flapping ? <FlappingBadge title="the port was flapping then: it went away often within the window" /> : null}
                  </td>
                  <td>
                    <a href={`/hosts/${e.ip}`}>{e.ip}</a>
                  </td>
                  <td>
                    {e.port}/{e.protocol}
                  </td>
                  <td>
                    {e.changes?.length ? (
                      <Changes changes={e.changes} />
                    ) : (
                      <code>
                        {e.previousHsh256 ? `${e.previousHsh256.slice(0, 8)} → ` : ''}
                        {e.hsh256.slice(0, 8)}
                      </code>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {more ? (
          <p class="paging">
            <a rel="next" href={next.pathname + next.search}>
              Older changes →
            </a>
          </p>
        ) : null}
      </>,
    );
  });
}
