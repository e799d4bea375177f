import type { Hono } from 'hono';
import { nextDue } from '../../core/profiles.ts';
import { listRuns } from '../../store/repos/runs.ts';
import { loadOverview, profileCoverage, TOP_SAMPLE } from '../../store/repos/overview.ts';
import type { WebEnv } from '../context.ts';
import { guard } from '../guard.ts';
import { render, When } from '../layout.tsx';

const q = (query: string) => `/search?q=${encodeURIComponent(query)}`;

export function registerOverview(web: Hono<WebEnv>): void {
  web.get('/', ...guard('viewer'), async (c) => {
    const { store } = c.var.deps;
    const now = new Date();
    const [o, running, queued, coverage] = await Promise.all([
      loadOverview(store, now),
      listRuns(store, { status: 'running', limit: 20 }),
      listRuns(store, { status: 'queued', limit: 20 }),
      profileCoverage(store),
    ]);
    const inProgress = [...running.items, ...queued.items];
    return render(
      c,
      'Overview',
      <>
        <section class="cards" aria-label="Exposure now">
          <div class="card">
            <span class="figure">{o.openHosts}</span> hosts with open ports
          </div>
          <div class="card">
            <span class="figure">{o.openPorts}</span> open ports
          </div>
          {o.bands.map((b) => (
            <div class="card">
              <span class="figure">{b.hosts}</span> hosts in band {b.band}
            </div>
          ))}
        </section>
        <section>
          <h2>Changes</h2>
          <table>
            <caption>Events in the last day and week</caption>
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Last 24 h</th>
                <th scope="col">Last 7 days</th>
              </tr>
            </thead>
            <tbody>
              {o.events.length === 0 ? (
                <tr>
                  <td colspan={3}>No change in the last week.</td>
                </tr>
              ) : (
                o.events.map((e) => (
                  <tr>
                    <th scope="row">
                      <a href={`/changes?types=${e.type}&since=7d`}>{e.type}</a>
                    </th>
                    <td>{e.day}</td>
                    <td>{e.week}</td>
                  </tr>
                ))
              )}
            </tbody>
          </table>
        </section>
        <div class="columns">
          <section>
            <h2>Top tags</h2>
            <p class="muted">Among the {TOP_SAMPLE.toLocaleString('en')} most recently found open ports.</p>
            <ul class="counts">
              {o.topTags.map((t) => (
                <li>
                  <a href={q(`tag:"${t.tag}"`)}>{t.tag}</a> <span>{t.ports}</span>
                </li>
              ))}
            </ul>
          </section>
          <section>
            <h2>Top services</h2>
            <p class="muted">Among the {TOP_SAMPLE.toLocaleString('en')} most recently found open ports.</p>
            <ul class="counts">
              {o.topServices.map((s) => (
                <li>
                  <a href={q(`service_name:"${s.service}"`)}>{s.service}</a> <span>{s.ports}</span>
                </li>
              ))}
            </ul>
          </section>
        </div>
        <section>
          <h2>Runs in progress</h2>
          {inProgress.length === 0 ? (
            <p>None.</p>
          ) : (
            <ul>
              {inProgress.map((r) => (
                <li>
                  <a href={`/runs/${r.id}`}>{r.id}</a> {r.kind} {r.profile_name ?? ''} — {r.status}
                </li>
              ))}
            </ul>
          )}
        </section>
        <section>
          <h2>Coverage</h2>
          <table>
            <caption>Enabled profiles: last finished run and whether the next one is overdue</caption>
            <thead>
              <tr>
                <th scope="col">Profile</th>
                <th scope="col">Cycle</th>
                <th scope="col">Last run finished</th>
                <th scope="col">Status</th>
                <th scope="col">Due</th>
              </tr>
            </thead>
            <tbody>
              {coverage.map((p) => {
                let due: Date | undefined;
                try {
                  due = nextDue(p.cycle, p.lastStart, now);
                } catch {
                  due = undefined;
                }
                const overdue = !p.lastStart || (due !== undefined && due < now);
                return (
                  <tr class={overdue ? 'overdue' : undefined}>
                    <th scope="row">
                      <a href={`/perimeter/profiles/${p.profile}`}>{p.profile}</a>
                    </th>
                    <td>{p.cycle}</td>
                    <td>
                      <When at={p.lastFinish} />
                    </td>
                    <td>{p.lastStatus ?? 'never ran'}</td>
                    <td>{overdue ? <strong>overdue</strong> : <When at={due} />}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </section>
      </>,
    );
  });
}
