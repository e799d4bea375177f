import type { Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { PlumError } from '../../core/errors.ts';
import { roleAtLeast } from '../../api/auth.ts';
import { cancelRun, startInvestigation } from '../../api/views/investigations.ts';
import { streamSlotsOf } from '../../api/routes/events/streams.ts';
import { getRun, jobCounts, listJobs, listRuns, RUN_KINDS, RUN_STATUSES, runJson, runOrigin, type RunKind, type RunRow } from '../../store/repos/runs.ts';
import { temporalWorkflowUrl } from '../temporal-link.ts';
import type { WebEnv, WebOptions } from '../context.ts';
import { guard } from '../guard.ts';
import { NextPage, PostForm, render, When } from '../layout.tsx';

const FINISHED = new Set(['succeeded', 'failed', 'cancelled', 'partial']);
const RUN_ID = /^run_[0-9a-z]{26}$/;

async function loadRunOr404(c: Context<WebEnv>, id: string): Promise<RunRow> {
  if (!RUN_ID.test(id)) throw new PlumError('invalid_input', 'not a run id', { hint: 'open a run from the runs page' });
  const run = await getRun(c.var.deps.store, id);
  if (!run) throw new PlumError('not_found', `no run ${id}`, { hint: 'see the runs page' });
  return run;
}

/** Progress as the page and its live updates show it: one line, from the run's own counters. */
export function progressText(r: Pick<RunRow, 'status' | 'counters'>): string {
  const k = r.counters ?? {};
  const parts: string[] = [r.status];
  if (typeof k.jobs === 'number' && k.jobs > 0) parts.push(`${k.jobsDone ?? 0}/${k.jobs} jobs`);
  const found = (['hostsUp', 'ports', 'appeared', 'changed', 'gone', 'reappeared'] as const)
    .filter((n) => typeof k[n] === 'number' && k[n] > 0)
    .map((n) => `${n === 'hostsUp' ? 'hosts up' : n} ${k[n]}`);
  if (found.length) parts.push(found.join(', '));
  return parts.join(' · ');
}

function InvestigateForm({ c, targets = '', ports = '1-1024', message }: { c: Context<WebEnv>; targets?: string; ports?: string; message?: string }) {
  return (
    <PostForm c={c} action="/investigations" class="stacked">
      {message ? (
        <p class="flash error" role="alert">
          {message}
        </p>
      ) : null}
      <label for="inv-targets">Targets (inside the perimeter; one per line or comma-separated)</label>
      <textarea id="inv-targets" name="targets" rows={3} required>
        {targets}
      </textarea>
      <label for="inv-ports">TCP ports</label>
      <input id="inv-ports" name="ports" value={ports} required />
      <label for="inv-scripts">Scripts (comma-separated)</label>
      <input id="inv-scripts" name="scripts" value="plum-banner" />
      <label for="inv-reason">Reason</label>
      <input id="inv-reason" name="reason" />
      <button type="submit">Start the investigation</button>
    </PostForm>
  );
}

export function registerRuns(web: Hono<WebEnv>, opts: WebOptions): void {
  web.get('/runs', ...guard('viewer'), async (c) => {
    const kind = (RUN_KINDS as readonly string[]).includes(c.req.query('kind') ?? '') ? (c.req.query('kind') as RunKind) : undefined;
    const status = (RUN_STATUSES as readonly string[]).includes(c.req.query('status') ?? '') ? c.req.query('status') : undefined;
    const cursor = RUN_ID.test(c.req.query('cursor') ?? '') ? c.req.query('cursor') : undefined;
    const { items, more } = await listRuns(c.var.deps.store, { kind, status, cursor, limit: 50 });
    return render(
      c,
      'Runs',
      <>
        {roleAtLeast(c.var.user.role, 'operator') ? (
          <p>
            <a href="/investigate">New investigation</a>
          </p>
        ) : null}
        <form method="get" action="/runs" class="filters">
          <label for="kind">Kind</label>
          <select id="kind" name="kind">
            <option value="">any</option>
            {RUN_KINDS.map((k) => (
              <option value={k} selected={k === kind}>
                {k}
              </option>
            ))}
          </select>
          <label for="status">Status</label>
          <select id="status" name="status">
            <option value="">any</option>
            {RUN_STATUSES.map((s) => (
              <option value={s} selected={s === status}>
                {s}
              </option>
            ))}
          </select>
          <button type="submit">Filter</button>
        </form>
        <table>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Kind</th>
              <th scope="col">Profile / reason</th>
              <th scope="col">Status</th>
              <th scope="col">Created</th>
              <th scope="col">Finished</th>
              {opts.temporalUi ? <th scope="col">Temporal</th> : null}
            </tr>
          </thead>
          <tbody>
            {items.length === 0 ? (
              <tr>
                <td colspan={opts.temporalUi ? 7 : 6}>No run.</td>
              </tr>
            ) : (
              items.map((r) => (
                <tr>
                  <td>
                    <a href={`/runs/${r.id}`}>{r.id}</a>
                  </td>
                  <td>{r.kind}</td>
                  <td>{r.profile_name ?? r.reason ?? ''}</td>
                  <td>{progressText(r)}</td>
                  <td>
                    <When at={r.created_at} />
                  </td>
                  <td>
                    <When at={r.finished_at} />
                  </td>
                  {opts.temporalUi ? (
                    <td>
                      {r.workflow_id ? (
                        <a href={temporalWorkflowUrl(opts.temporalUi, c.var.deps.config.PLUM_TEMPORAL_NAMESPACE, r.workflow_id)} rel="noopener noreferrer">
                          workflow<span class="visually-hidden"> of {r.id}</span>
                        </a>
                      ) : (
                        ''
                      )}
                    </td>
                  ) : null}
                </tr>
              ))
            )}
          </tbody>
        </table>
        <NextPage c={c} cursor={more ? items[items.length - 1]!.id : undefined} />
      </>,
    );
  });

  web.get('/runs/:id', ...guard('viewer'), async (c) => {
    const run = await loadRunOr404(c, c.req.param('id'));
    const [jobs, counts] = await Promise.all([listJobs(c.var.deps.store, run.id, 500), jobCounts(c.var.deps.store, run.id)]);
    const live = !FINISHED.has(run.status);
    const origin = runOrigin(run);
    const temporalLink =
      opts.temporalUi && run.workflow_id ? temporalWorkflowUrl(opts.temporalUi, c.var.deps.config.PLUM_TEMPORAL_NAMESPACE, run.workflow_id) : undefined;
    return render(
      c,
      `Run ${run.id}`,
      <>
        <p>
          {run.kind}
          {run.profile_name ? (
            <>
              {' '}
              of profile <a href={`/perimeter/profiles/${run.profile_name}`}>{run.profile_name}</a>
            </>
          ) : null}
          {run.requested_by ? <> · requested by {run.requested_by}</> : null}
          {run.reason && !origin ? <> · {run.reason}</> : null}
        </p>
        {origin ? (
          <p id="run-origin">
            Triggered by <code>{origin.query}</code> on <a href={`/hosts/${origin.ip}`}>{origin.ip}</a> {origin.port}/{origin.protocol} (observation{' '}
            {origin.observationId})
            {origin.firings > 1 ? (
              <>
                {' '}
                and {origin.firings - 1} more finding{origin.firings === 2 ? '' : 's'}
              </>
            ) : null}
          </p>
        ) : null}
        <p>
          Status:{' '}
          <output id="run-progress" data-run-events={live ? `/runs/${run.id}/progress` : undefined} aria-live="polite">
            {progressText(run)}
          </output>
        </p>
        {run.error ? <p class="flash error">{run.error}</p> : null}
        <p>Targets: {run.targets.join(', ')}</p>
        <p>
          Created <When at={run.created_at} /> · started <When at={run.started_at} /> · finished <When at={run.finished_at} />
        </p>
        {temporalLink ? (
          <p>
            <a href={temporalLink} rel="noopener noreferrer">
              Open the workflow in the Temporal UI
            </a>
          </p>
        ) : null}
        {live && roleAtLeast(c.var.user.role, 'operator') ? (
          <PostForm c={c} action={`/runs/${run.id}/cancel`} class="inline">
            <button type="submit">Cancel the run</button>
          </PostForm>
        ) : null}
        {run.kind === 'investigation' && !live ? (
          <p>
            Results:{' '}
            {run.targets.map((t, i) => (
              <>
                {i ? ', ' : ''}
                <a href={/^[0-9a-fA-F:.]+$/.test(t) ? `/hosts/${t}` : `/search?q=${encodeURIComponent(`ip:${t}`)}`}>{t}</a>
              </>
            ))}
          </p>
        ) : null}
        <h2>Jobs</h2>
        <p>
          {Object.entries(counts)
            .map(([s, n]) => `${s} ${n}`)
            .join(', ') || 'No job yet.'}
        </p>
        <table>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Stage</th>
              <th scope="col">Targets</th>
              <th scope="col">Status</th>
              <th scope="col">Agent</th>
              <th scope="col">Finished</th>
              <th scope="col">Raw</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((j) => (
              <tr>
                <td>{j.index}</td>
                <td>{j.stage === 'scout' ? 'Scouting (masscan)' : 'Scan (nmap)'}</td>
                <td>{j.targets.join(', ')}</td>
                <td>
                  {j.status}
                  {j.error ? ` (${j.error})` : ''}
                </td>
                <td>{j.agent ?? ''}</td>
                <td>
                  <When at={j.finished_at} />
                </td>
                <td>{j.ingested_at ? <a href={`/jobs/${j.id}/raw`}>XML</a> : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </>,
    );
  });

  /** Live progress of one run (Server-Sent Events), read from the database like the API's event feed. */
  web.get('/runs/:id/progress', ...guard('viewer'), async (c) => {
    const run = await loadRunOr404(c, c.req.param('id'));
    const deps = c.var.deps;
    const release = streamSlotsOf(deps, deps.limits).acquire(`user:${c.var.user.name}`);
    return streamSSE(c, async (stream) => {
      stream.onAbort(release);
      try {
        let last = '';
        let current: RunRow | undefined = run;
        let lastWrite = Date.now();
        while (!stream.aborted && current) {
          const data = JSON.stringify({ ...runJson(current), text: progressText(current) });
          if (data !== last) {
            await stream.writeSSE({ event: 'run', data });
            last = data;
            lastWrite = Date.now();
          } else if (Date.now() - lastWrite > deps.limits.sseKeepAliveMs) {
            await stream.write(': keep-alive\n\n');
            lastWrite = Date.now();
          }
          if (FINISHED.has(current.status)) break;
          await stream.sleep(deps.limits.ssePollMs);
          current = await getRun(deps.store, run.id);
        }
      } finally {
        release();
      }
    });
  });

  web.post('/runs/:id/cancel', ...guard('operator'), async (c) => {
    const run = await loadRunOr404(c, c.req.param('id'));
    await cancelRun(c.var.deps, run);
    return c.redirect(`/runs/${run.id}?ok=${encodeURIComponent('Cancellation requested.')}`, 303);
  });

  web.get('/investigate', ...guard('operator'), async (c) => {
    return render(c, 'New investigation', <InvestigateForm c={c} targets={c.req.query('targets') ?? ''} />);
  });

  web.post('/investigations', ...guard('operator'), async (c) => {
    const form = await c.req.parseBody();
    const text = (k: string) => (typeof form[k] === 'string' ? (form[k] as string).trim() : '');
    const targets = text('targets')
      .split(/[\s,]+/)
      .filter(Boolean);
    const ports = text('ports') || '1-1024';
    const scripts = text('scripts')
      .split(/[\s,]+/)
      .filter(Boolean);
    if (targets.length === 0 || targets.length > 1024) {
      return render(c, 'New investigation', <InvestigateForm c={c} targets={text('targets')} ports={ports} message="Give between 1 and 1024 targets." />, 400);
    }
    try {
      const { runId } = await startInvestigation(
        c.var.deps,
        {
          targets,
          ports,
          scripts: scripts.length ? scripts : ['plum-banner'],
          reason: text('reason') || undefined,
        },
        `user:${c.var.user.name}`,
      );
      return c.redirect(`/runs/${runId}`, 303);
    } catch (e) {
      if (!(e instanceof PlumError) || !['invalid_input', 'usage', 'out_of_scope', 'unsafe_argument', 'syntax'].includes(e.code)) throw e;
      const offending = Array.isArray(e.details?.offending) ? ` (${(e.details.offending as unknown[]).map(String).join(', ')})` : '';
      return render(c, 'New investigation', <InvestigateForm c={c} targets={text('targets')} ports={ports} message={`${e.message}${offending}`} />, 422);
    }
  });
}
