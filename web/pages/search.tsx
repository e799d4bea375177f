import type { Context, Hono } from 'hono';
import { stream } from 'hono/streaming';
import { exportObservations } from '../../activities/report.ts';
import { PlumError } from '../../core/errors.ts';
import { EXPORT_FORMATS } from '../../core/export/stream.ts';
import { parseQuery } from '../../core/query/index.ts';
import { collectTerms, type TermNode } from '../../core/query/ast.ts';
import { FIELD_NAMES, getField } from '../../core/query/registry.ts';
import { searchPorts, type SearchResult } from '../../store/search/index.ts';
import { suggestTags, suggestValues } from '../../store/repos/suggest.ts';
import type { WebEnv } from '../context.ts';
import { expensivePage, guard, withinSearchBudget } from '../guard.ts';
import { NextPage, PostForm, render, Tags, When } from '../layout.tsx';
import { roleAtLeast } from '../../api/auth.ts';
import { saveReport, saveWebhook } from '../../api/views/reports.ts';
import { WEBHOOK_EVENT_TYPES } from '../../store/repos/webhooks.ts';
import { reportsPage } from './reports.tsx';

/** Which result column shows which query field, for highlighting. */
const COLUMN_FIELDS: Record<'port' | 'service' | 'product' | 'title' | 'tags', string[]> = {
  port: ['port'],
  service: ['service_name'],
  product: ['service_product', 'cpe'],
  title: ['http_title'],
  tags: ['tag'],
};

/** `text` with every occurrence of the query's values for `fields` in <mark> (pieces are escaped by JSX). */
export function Highlight({ text, terms, fields }: { text: string | number | undefined; terms: TermNode[]; fields: string[] }) {
  const s = text === undefined ? '' : String(text);
  const needles = terms
    .filter((t) => fields.includes(t.field) && t.op === 'eq')
    .flatMap((t) => t.values)
    .filter((v) => v.length > 0);
  if (!s || needles.length === 0) return <>{s}</>;
  const lower = s.toLowerCase();
  const parts: (string | { mark: string })[] = [];
  let i = 0;
  while (i < s.length) {
    let best: { at: number; len: number } | undefined;
    for (const n of needles) {
      const at = lower.indexOf(n, i);
      if (at >= 0 && (!best || at < best.at || (at === best.at && n.length > best.len))) best = { at, len: n.length };
    }
    if (!best) break;
    if (best.at > i) parts.push(s.slice(i, best.at));
    parts.push({ mark: s.slice(best.at, best.at + best.len) });
    i = best.at + best.len;
  }
  if (i < s.length) parts.push(s.slice(i));
  return <>{parts.map((p) => (typeof p === 'string' ? p : <mark>{p.mark}</mark>))}</>;
}

function QueryError({ q, err }: { q: string; err: PlumError }) {
  const pos = typeof err.details?.position === 'number' ? err.details.position : undefined;
  return (
    <div class="query-error" role="alert">
      <p>
        <strong>Syntax error</strong>
        {pos !== undefined ? ` at position ${pos}` : ''}: {err.message}
      </p>
      {pos !== undefined ? (
        <pre aria-hidden="true">
          <code>
            {q}
            {'\n'}
            {' '.repeat(Math.min(pos, q.length))}^
          </code>
        </pre>
      ) : null}
      {err.hint ? <p>{err.hint}</p> : null}
    </div>
  );
}

function Results({ c, r, terms }: { c: Context<WebEnv>; r: SearchResult; terms: TermNode[] }) {
  if (r.hosts.length === 0) return <p>No match.</p>;
  return (
    <>
      {r.hosts.map((h) => (
        <section class="host-hit" aria-label={`host ${h.ip}`}>
          <h2>
            <a href={`/hosts/${h.ip}`}>{h.ip}</a> <span class="score">score {h.score}</span>
          </h2>
          <Tags tags={h.tags} />
          <table>
            <thead>
              <tr>
                <th scope="col">Port</th>
                <th scope="col">Service</th>
                <th scope="col">Product</th>
                <th scope="col">Title</th>
                <th scope="col">Tags</th>
                <th scope="col">Last seen</th>
              </tr>
            </thead>
            <tbody>
              {h.ports.map((p) => (
                <tr>
                  <td>
                    <Highlight text={p.port} terms={terms} fields={COLUMN_FIELDS.port} />/{p.protocol}
                  </td>
                  <td>
                    <Highlight text={p.service} terms={terms} fields={COLUMN_FIELDS.service} />
                  </td>
                  <td>
                    <Highlight text={p.product} terms={terms} fields={COLUMN_FIELDS.product} />
                  </td>
                  <td>
                    <Highlight text={p.title} terms={terms} fields={COLUMN_FIELDS.title} />
                  </td>
                  <td>
                    {p.tags.map((t, i) => (
                      <>
                        {i ? ', ' : ''}
                        <Highlight text={t} terms={terms} fields={COLUMN_FIELDS.tags} />
                      </>
                    ))}
                  </td>
                  <td>
                    <When at={p.last_seen} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}
      <NextPage c={c} cursor={r.nextCursor} />
    </>
  );
}

function Choice({ name, value, current, label }: { name: string; value: string; current: string; label: string }) {
  return (
    <option value={value} selected={value === current}>
      {label}
      {name ? '' : ''}
    </option>
  );
}

interface SearchParams {
  q: string;
  mode: 'structured' | 'token';
  by: 'port' | 'host';
  sort: 'last_seen' | 'score';
  cursor?: string;
}

function searchParams(get: (k: string) => string | undefined): SearchParams {
  return {
    q: (get('q') ?? '').slice(0, 4000),
    mode: get('mode') === 'token' ? 'token' : 'structured',
    by: get('by') === 'host' ? 'host' : 'port',
    sort: get('sort') === 'score' ? 'score' : 'last_seen',
    cursor: get('cursor') || undefined,
  };
}

/** What a refused save form showed: its kind, the one-line error and the values to put back. */
interface SaveAttempt {
  kind: 'report' | 'webhook';
  message: string;
  values: Record<string, string>;
}

async function searchPage(c: Context<WebEnv>, p: SearchParams, save?: SaveAttempt) {
  const { q, mode, by, sort, cursor } = p;
  let error: PlumError | undefined;
  let result: SearchResult | undefined;
  let terms: TermNode[] = [];
  if (q.trim()) {
    try {
      if (mode === 'structured') terms = collectTerms(parseQuery(q));
      result = await searchPorts(c.var.deps.store, q, { token: mode === 'token', by, sort, limit: 50, cursor });
    } catch (e) {
      if (!(e instanceof PlumError) || !['syntax', 'invalid_input', 'usage'].includes(e.code)) throw e;
      error = e;
    }
  }
  const exportHref = (format: string) => `/search/export?${new URLSearchParams({ q, format })}`;
  // Reports and webhooks take structured queries; saving them is an operator's action, as in the CLI.
  const canSave = result !== undefined && mode === 'structured' && roleAtLeast(c.var.user.role, 'operator');
  return render(
    c,
    'Search',
    <>
      <form method="get" action="/search" class="search" role="search">
        <label for="q">Query</label>
        <input
          id="q"
          name="q"
          value={q}
          list="q-options"
          autocomplete="off"
          spellcheck={false}
          aria-describedby="q-help"
          aria-invalid={error ? 'true' : undefined}
          hx-get="/search/complete"
          hx-trigger="input changed delay:250ms"
          hx-target="#q-options"
          hx-swap="innerHTML"
          hx-include="this"
        />
        <datalist id="q-options"></datalist>
        <label for="mode">Mode</label>
        <select id="mode" name="mode">
          <Choice name="" value="structured" current={mode} label="structured" />
          <Choice name="" value="token" current={mode} label="free text" />
        </select>
        <label for="by">Match</label>
        <select id="by" name="by">
          <Choice name="" value="port" current={by} label="all terms on one port" />
          <Choice name="" value="host" current={by} label="terms across a host" />
        </select>
        <label for="sort">Sort</label>
        <select id="sort" name="sort">
          <Choice name="" value="last_seen" current={sort} label="last seen" />
          <Choice name="" value="score" current={sort} label="score" />
        </select>
        <button type="submit">Search</button>
      </form>
      <p id="q-help" class="muted">
        Examples: <code>port:443 http_server.lk:nginx</code>, <code>tag:admin-interface since:7</code>, <code>net:127.0.0.0/8 NOT port:22</code>.{' '}
        <a href="/docs">API</a>
      </p>
      {error ? <QueryError q={q} err={error} /> : null}
      {result ? (
        <>
          <p class="export">
            Export this query:{' '}
            {EXPORT_FORMATS.map((f, i) => (
              <>
                {i ? ' · ' : ''}
                <a href={exportHref(f)} download>
                  {f.toUpperCase()}
                </a>
              </>
            ))}
          </p>
          {canSave ? <SaveQuery c={c} p={p} save={save} /> : null}
          <Results c={c} r={result} terms={terms} />
        </>
      ) : null}
    </>,
    error ? 400 : save ? 422 : 200,
  );
}

/** The forms that store the current query as a scheduled report or a webhook (operators). */
function SaveQuery({ c, p, save }: { c: Context<WebEnv>; p: SearchParams; save?: SaveAttempt }) {
  const v = (kind: SaveAttempt['kind'], k: string, dflt = '') => (save?.kind === kind ? (save.values[k] ?? dflt) : dflt);
  const failed = (kind: SaveAttempt['kind']) =>
    save?.kind === kind ? (
      <p class="flash error" role="alert">
        {save.message}
      </p>
    ) : null;
  const events = new Set(v('webhook', 'events', 'appeared,changed,reappeared').split(','));
  const hidden = (
    <>
      <input type="hidden" name="q" value={p.q} />
      <input type="hidden" name="by" value={p.by} />
      <input type="hidden" name="sort" value={p.sort} />
    </>
  );
  return (
    <details class="save-query" open={save ? true : undefined}>
      <summary>Save this query as a report or a webhook</summary>
      <div class="columns">
        <PostForm c={c} action="/search/save/report" class="stacked">
          <h2>Scheduled report</h2>
          {failed('report')}
          {hidden}
          <label for="r-name">Report name</label>
          <input id="r-name" name="name" required value={v('report', 'name')} />
          <label for="r-every">Every (e.g. 1d, 7d)</label>
          <input id="r-every" name="every" required value={v('report', 'every', '7d')} />
          <label for="r-recipients">Recipients, one per line: webhook:URL or mailto:ADDRESS (none: preview only)</label>
          <textarea id="r-recipients" name="recipients" rows={3}>
            {v('report', 'recipients')}
          </textarea>
          <label for="r-description">Description</label>
          <input id="r-description" name="description" value={v('report', 'description')} />
          <button type="submit">Save the report</button>
        </PostForm>
        <PostForm c={c} action="/search/save/webhook" class="stacked">
          <h2>Webhook</h2>
          {failed('webhook')}
          {hidden}
          <label for="w-name">Webhook name</label>
          <input id="w-name" name="name" required value={v('webhook', 'name')} />
          <label for="w-url">URL receiving the events (http or https)</label>
          <input id="w-url" name="url" type="url" required value={v('webhook', 'url')} />
          <fieldset>
            <legend>Events</legend>
            {WEBHOOK_EVENT_TYPES.map((t) => (
              <label>
                <input type="checkbox" name="events" value={t} checked={events.has(t)} /> {t}
              </label>
            ))}
          </fieldset>
          <button type="submit">Save the webhook</button>
        </PostForm>
      </div>
    </details>
  );
}

/** Errors of a save form shown in the form: bad values, a taken name, a refused destination. */
const SAVE_ERRORS = ['syntax', 'invalid_input', 'usage', 'conflict', 'not_found', 'forbidden'];

/** A refused save form shows its search again: that search counts against the user's search limit like the page's. */
function refusedSave(c: Context<WebEnv>, p: SearchParams, save: SaveAttempt) {
  return p.q.trim() ? withinSearchBudget(c, () => searchPage(c, p, save)) : searchPage(c, p, save);
}

export function registerSearch(web: Hono<WebEnv>): void {
  web.get('/search', ...guard('viewer'), expensivePage, (c) =>
    searchPage(
      c,
      searchParams((k) => c.req.query(k)),
    ),
  );

  web.post('/search/save/report', ...guard('operator'), async (c) => {
    const form = await c.req.parseBody();
    const text = (k: string) => (typeof form[k] === 'string' ? (form[k] as string).trim() : '');
    const p = searchParams((k) => text(k) || undefined);
    const values = { name: text('name'), every: text('every'), recipients: text('recipients'), description: text('description') };
    try {
      const { def, hooks } = await saveReport(
        c.var.deps.store,
        {
          name: values.name,
          query: p.q,
          every: values.every,
          destinations: values.recipients.split(/\r?\n/),
          description: values.description || undefined,
        },
        { allowPrivate: c.var.deps.config.PLUM_WEBHOOK_ALLOW_PRIVATE },
      );
      return reportsPage(c, { message: `Report ${def.name} saved; first run ${def.nextRunAt?.toISOString().slice(0, 16).replace('T', ' ')} UTC.`, hooks });
    } catch (e) {
      if (!(e instanceof PlumError) || !SAVE_ERRORS.includes(e.code)) throw e;
      return refusedSave(c, p, { kind: 'report', message: e.message, values });
    }
  });

  web.post('/search/save/webhook', ...guard('operator'), async (c) => {
    const form = await c.req.parseBody({ all: true });
    const text = (k: string) => (typeof form[k] === 'string' ? (form[k] as string).trim() : '');
    const p = searchParams((k) => text(k) || undefined);
    const raw = form.events;
    const events = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).filter((e): e is string => typeof e === 'string');
    const values = { name: text('name'), url: text('url'), events: events.join(',') };
    try {
      if (events.length === 0) throw new PlumError('invalid_input', 'choose at least one event type', { hint: 'tick appeared, changed, gone or reappeared' });
      const hook = await saveWebhook(
        c.var.deps.store,
        { name: values.name, url: values.url, query: p.q, eventTypes: events },
        { allowPrivate: c.var.deps.config.PLUM_WEBHOOK_ALLOW_PRIVATE },
      );
      return reportsPage(c, { message: `Webhook ${hook.name} saved.`, hooks: [hook] });
    } catch (e) {
      if (!(e instanceof PlumError) || !SAVE_ERRORS.includes(e.code)) throw e;
      return refusedSave(c, p, { kind: 'webhook', message: e.message, values });
    }
  });

  /** Options for the search box's datalist: the query with its last word completed. */
  web.get('/search/complete', ...guard('viewer'), async (c) => {
    const q = (c.req.query('q') ?? '').slice(0, 4000);
    const m = /(^|\s)(\S*)$/.exec(q)!;
    const head = q.slice(0, q.length - m[2]!.length);
    const word = m[2]!;
    const { store } = c.var.deps;
    let options: string[] = [];
    const fv = /^([a-z0-9_]+)(\.[a-z]+)?:("?)(.*)$/.exec(word);
    if (!fv) {
      options = FIELD_NAMES.filter((f) => f.startsWith(word.toLowerCase()))
        .slice(0, 15)
        .map((f) => `${head}${f}:`);
    } else if (getField(fv[1]!)) {
      const [, field, mod = '', , prefix = ''] = fv;
      const values = field === 'tag' ? await suggestTags(store, prefix) : await suggestValues(store, field!, prefix);
      options = values.map((v) => `${head}${field}${mod}:${/[\s"()]/.test(v) ? JSON.stringify(v) : v}`);
    }
    return c.html(options.map((o) => <option value={o}></option>).join(''));
  });

  /** The current query exported through the same exporter as `plum export` (streamed). */
  web.get('/search/export', ...guard('viewer'), expensivePage, async (c) => {
    const q = (c.req.query('q') ?? '').slice(0, 4000);
    const format = c.req.query('format') ?? 'json';
    if (!(EXPORT_FORMATS as readonly string[]).includes(format)) {
      throw new PlumError('invalid_input', `unknown export format "${format}"`, { hint: `use one of ${EXPORT_FORMATS.join(', ')}` });
    }
    const { chunks, contentType } = exportObservations(c.var.deps.store, { format, query: q.trim() || undefined });
    c.header('content-type', contentType);
    c.header('content-disposition', `attachment; filename="plum-export.${format === 'misp' ? 'misp.json' : format}"`);
    return stream(c, async (s) => {
      for await (const chunk of chunks) await s.write(chunk);
    });
  });
}
