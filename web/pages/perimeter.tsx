import type { Context, Hono } from 'hono';
import { systemResolver } from '../../activities/nmap.ts';
import { roleAtLeast } from '../../api/auth.ts';
import { importTargetList, type TargetImportReport } from '../../api/views/targets.ts';
import { PlumError } from '../../core/errors.ts';
import { planJobs, summarisePlan } from '../../core/plan.ts';
import { checkScope, describeOffenders } from '../../core/scope.ts';
import { listAgents } from '../../store/repos/agents.ts';
import { getProfile, listProfiles, saveProfile, setProfileEnabled, type StoredProfile } from '../../store/repos/profiles.ts';
import { addTargets, listTargets, loadPerimeter, loadPlanTargets, removeTargets } from '../../store/repos/targets.ts';
import type { WebEnv } from '../context.ts';
import { guard } from '../guard.ts';
import { PostForm, render, When } from '../layout.tsx';

type Form = Record<string, string | File | (string | File)[]>;
const field = (form: Form, k: string) => (typeof form[k] === 'string' ? (form[k] as string).trim() : '');
const labelsOf = (text: string) => text.split(/[\s,]+/).filter(Boolean);
const back = (path: string, kind: 'ok' | 'error', message: string) => `${path}?${kind}=${encodeURIComponent(message.slice(0, 500))}`;
const PAGE = 200;

function ImportReport({ r }: { r: TargetImportReport }) {
  return (
    <section class="import-report" aria-label="Import report">
      <h2>Import report</h2>
      <p>
        {r.accepted.length} accepted, {r.duplicate.length} already declared or repeated, {r.invalid.length} invalid.
      </p>
      {r.invalid.length ? (
        <table>
          <caption>Invalid lines</caption>
          <thead>
            <tr>
              <th scope="col">Line</th>
              <th scope="col">Value</th>
              <th scope="col">Error</th>
            </tr>
          </thead>
          <tbody>
            {r.invalid.map((i) => (
              <tr>
                <td>{i.line}</td>
                <td>{i.value}</td>
                <td>{i.error}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {r.duplicate.length ? <p>Duplicates: {r.duplicate.map((d) => `line ${d.line} ${d.value}`).join('; ')}</p> : null}
      {r.overlaps.length ? <p>Overlaps: {r.overlaps.map((o) => `${o.target} overlaps ${o.overlaps}`).join('; ')}</p> : null}
    </section>
  );
}

async function perimeterPage(
  c: Context<WebEnv>,
  extra?: { report?: TargetImportReport; scope?: { value: string; text: string; ok: boolean } },
  status: 200 | 400 | 422 = 200,
) {
  const { store } = c.var.deps;
  const label = (c.req.query('label') ?? '').trim();
  const offset = Math.max(0, Number(c.req.query('offset')) || 0);
  const [all, profiles, agents] = await Promise.all([listTargets(store, label ? { label } : {}), listProfiles(store), listAgents(store)]);
  const targets = all.slice(offset, offset + PAGE);
  const operator = roleAtLeast(c.var.user.role, 'operator');
  return render(
    c,
    'Perimeter',
    <>
      {extra?.report ? <ImportReport r={extra.report} /> : null}
      <section>
        <h2>Targets</h2>
        <form method="get" action="/perimeter" class="filters">
          <label for="label">Label</label>
          <input id="label" name="label" value={label} />
          <button type="submit">Filter</button>
        </form>
        <table>
          <caption>
            {all.length} targets{label ? ` labelled ${label}` : ''}
          </caption>
          <thead>
            <tr>
              <th scope="col">Value</th>
              <th scope="col">Kind</th>
              <th scope="col">Addresses</th>
              <th scope="col">Labels</th>
              <th scope="col">Scope</th>
              {operator ? <th scope="col">Remove</th> : null}
            </tr>
          </thead>
          <tbody>
            {targets.map((t) => (
              <tr>
                <td>{t.value}</td>
                <td>{t.kind}</td>
                <td>{t.size}</td>
                <td>{t.labels.join(', ')}</td>
                <td>{t.exclude ? 'excluded' : 'included'}</td>
                {operator ? (
                  <td>
                    <PostForm c={c} action="/perimeter/targets/remove" class="inline">
                      <input type="hidden" name="value" value={t.value} />
                      <button type="submit" aria-label={`Remove ${t.value}`}>
                        Remove
                      </button>
                    </PostForm>
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
        {offset + PAGE < all.length ? (
          <p class="paging">
            <a rel="next" href={`/perimeter?${new URLSearchParams({ label, offset: String(offset + PAGE) })}`}>
              Next page →
            </a>
          </p>
        ) : null}
        {operator ? (
          <div class="columns">
            <PostForm c={c} action="/perimeter/targets" class="stacked">
              <h3>Add a target</h3>
              <label for="t-value">Address, range, CIDR or name</label>
              <input id="t-value" name="value" required />
              <label for="t-labels">Labels</label>
              <input id="t-labels" name="labels" />
              <label>
                <input type="checkbox" name="exclude" value="1" /> Exclusion (never scanned)
              </label>
              <button type="submit">Add</button>
            </PostForm>
            <PostForm c={c} action="/perimeter/targets/import" class="stacked">
              <h3>Bulk import</h3>
              <label for="t-list">One target per line (# comments allowed)</label>
              <textarea id="t-list" name="list" rows={6} required></textarea>
              <label for="t-import-labels">Labels</label>
              <input id="t-import-labels" name="labels" />
              <label>
                <input type="checkbox" name="exclude" value="1" /> Exclusions
              </label>
              <button type="submit">Import</button>
            </PostForm>
          </div>
        ) : null}
        <form method="get" action="/perimeter/scope" class="filters">
          <label for="scope-value">Scope check</label>
          <input id="scope-value" name="value" required value={extra?.scope?.value ?? ''} />
          <button type="submit">Check</button>
        </form>
        {extra?.scope ? (
          <p class={`flash ${extra.scope.ok ? 'ok' : 'error'}`} role="status">
            {extra.scope.text}
          </p>
        ) : null}
      </section>
      <section>
        <h2>Profiles</h2>
        <table>
          <thead>
            <tr>
              <th scope="col">Profile</th>
              <th scope="col">Scanner</th>
              <th scope="col">TCP ports</th>
              <th scope="col">Scripts</th>
              <th scope="col">Cycle</th>
              <th scope="col">Targets</th>
              <th scope="col">Enabled</th>
            </tr>
          </thead>
          <tbody>
            {profiles.map((p) => (
              <tr>
                <td>
                  <a href={`/perimeter/profiles/${p.name}`}>{p.name}</a>
                </td>
                <td>{p.scanner}</td>
                <td>{p.trigger ? "the finding's" : p.tcpPorts}</td>
                <td>{p.scripts.join(', ')}</td>
                <td>
                  {p.trigger ? (
                    <>
                      trigger: <code>{p.trigger}</code>
                    </>
                  ) : (
                    p.every
                  )}
                </td>
                <td>{p.trigger ? "the finding's" : p.targets}</td>
                <td>{p.enabled ? 'yes' : 'no'}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {operator ? (
          <p>
            <a href="/perimeter/profiles/new">New profile</a>
          </p>
        ) : null}
      </section>
      <section>
        <h2>Agents</h2>
        {agents.length === 0 ? (
          <p>No agent (embedded mode scans in the server).</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Agent</th>
                <th scope="col">Labels</th>
                <th scope="col">Version</th>
                <th scope="col">Last heartbeat</th>
                <th scope="col">Current job</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {agents.map((a) => (
                <tr>
                  <td>{a.name}</td>
                  <td>{a.labels.join(', ')}</td>
                  <td>{a.version ?? ''}</td>
                  <td>
                    <When at={a.lastHeartbeatAt} />
                  </td>
                  <td>{a.currentJobId ?? ''}</td>
                  <td>{a.disabledAt ? 'disabled' : 'enabled'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>,
    status,
  );
}

function ProfileForm({ c, p, message, isNew }: { c: Context<WebEnv>; p: Partial<StoredProfile>; message?: string; isNew: boolean }) {
  return (
    <PostForm c={c} action={isNew ? '/perimeter/profiles' : `/perimeter/profiles/${p.name}`} class="stacked">
      {message ? (
        <p class="flash error" role="alert">
          {message}
        </p>
      ) : null}
      {isNew ? (
        <>
          <label for="p-name">Name</label>
          <input id="p-name" name="name" required value={p.name ?? ''} />
        </>
      ) : null}
      <label for="p-description">Description</label>
      <input id="p-description" name="description" value={p.description ?? ''} />
      <label for="p-trigger">Trigger query (instead of ports, cycle and targets: scans each service a new finding makes match it)</label>
      <input id="p-trigger" name="trigger" value={p.trigger ?? ''} placeholder='http_title.lk:"index of"' />
      <label for="p-tcp">TCP ports (required unless a trigger is given)</label>
      <input id="p-tcp" name="tcpPorts" value={p.tcpPorts ?? ''} />
      <label for="p-udp">UDP ports</label>
      <input id="p-udp" name="udpPorts" value={p.udpPorts ?? ''} />
      <label for="p-scanner">Scanner</label>
      <select id="p-scanner" name="scanner">
        <option value="nmap" selected={(p.scanner ?? 'nmap') === 'nmap'}>
          nmap
        </option>
        <option value="sslscan" selected={p.scanner === 'sslscan'}>
          sslscan: TLS protocols, ciphers and certificate
        </option>
      </select>
      <label for="p-scout">Scouting rate (packets/s): masscan sweeps the targets first, nmap scans what answered (nmap, TCP only; empty: nmap alone)</label>
      <input id="p-scout" name="scoutRate" type="number" min={1} value={p.scouting ? String(p.scouting.rate) : ''} />
      <label for="p-scripts">Scripts (nmap only)</label>
      <input id="p-scripts" name="scripts" value={(p.scripts ?? ['plum-banner']).join(',')} />
      <label for="p-every">Cycle (e.g. 12h, 1d, or a cron expression)</label>
      <input id="p-every" name="every" value={p.trigger ? '' : (p.every ?? '12h')} />
      <label for="p-priority">Priority (0-4)</label>
      <input id="p-priority" name="priority" type="number" min={0} max={4} value={String(p.priority ?? 2)} />
      <label for="p-targets">Targets (all, or label:NAME)</label>
      <input id="p-targets" name="targets" value={p.trigger ? '' : (p.targets ?? 'all')} />
      <label for="p-timeout">Host timeout</label>
      <input id="p-timeout" name="hostTimeout" value={p.hostTimeout ?? '40s'} />
      <button type="submit">Save</button>
    </PostForm>
  );
}

/** The scouting stage from the form's rate field: empty is nmap alone; the profile schema checks the range. */
function scoutingOf(form: Form): { rate: number } | null {
  const rate = field(form, 'scoutRate');
  if (!rate) return null;
  if (!/^\d+$/.test(rate)) {
    throw new PlumError('invalid_input', 'invalid profile scouting.rate: the scouting rate must be a whole number of packets a second', {
      hint: 'give packets a second such as 10000, or leave the field empty for nmap alone',
      details: { field: 'scouting' },
    });
  }
  return { rate: Number(rate) };
}

function profileInput(form: Form, name: string, current?: StoredProfile) {
  const scanner = field(form, 'scanner') || current?.scanner || 'nmap';
  // A TLS profile runs no nmap scripts: the scripts field (prefilled for nmap) is not its own.
  const tls = scanner === 'sslscan';
  const trigger = field(form, 'trigger');
  // A trigger profile has no ports, cycle or targets: what the form leaves empty is not sent (typed values are, and are refused).
  if (trigger) {
    return {
      name,
      description: field(form, 'description') || undefined,
      trigger,
      ...(field(form, 'tcpPorts') ? { tcpPorts: field(form, 'tcpPorts') } : {}),
      ...(field(form, 'udpPorts') ? { udpPorts: field(form, 'udpPorts') } : {}),
      ...(field(form, 'every') ? { every: field(form, 'every') } : {}),
      ...(field(form, 'targets') ? { targets: field(form, 'targets') } : {}),
      ...(field(form, 'scoutRate') ? { scouting: scoutingOf(form) } : {}),
      scripts: field(form, 'scripts'),
      allowScripts: current?.allowScripts ?? [],
      nmapArgs: current?.nmapArgs ?? [],
      priority: field(form, 'priority') || '2',
      hostTimeout: field(form, 'hostTimeout') || '40s',
    };
  }
  return {
    scanner,
    name,
    description: field(form, 'description') || undefined,
    tcpPorts: field(form, 'tcpPorts'),
    udpPorts: field(form, 'udpPorts') || null,
    scouting: scoutingOf(form),
    scripts: tls ? '' : field(form, 'scripts'),
    // Script allowances and raw nmap options are kept as they are: the API (admin) and the CLI set them.
    allowScripts: tls ? [] : (current?.allowScripts ?? []),
    nmapArgs: tls ? [] : (current?.nmapArgs ?? []),
    every: field(form, 'every') || '12h',
    priority: field(form, 'priority') || '2',
    targets: field(form, 'targets') || 'all',
    hostTimeout: field(form, 'hostTimeout') || '40s',
  };
}

export function registerPerimeter(web: Hono<WebEnv>): void {
  web.get('/perimeter', ...guard('viewer'), (c) => perimeterPage(c));

  web.get('/perimeter/scope', ...guard('viewer'), async (c) => {
    const value = (c.req.query('value') ?? '').trim().slice(0, 300);
    if (!value) return perimeterPage(c);
    let d;
    try {
      d = await checkScope([value], await loadPerimeter(c.var.deps.store), { resolve: systemResolver });
    } catch (e) {
      if (!(e instanceof PlumError)) throw e;
      return perimeterPage(c, { scope: { value, ok: false, text: e.message } }, 400);
    }
    return perimeterPage(c, {
      scope: { value, ok: d.ok, text: d.ok ? `${value} is inside the perimeter.` : `${value} is not in scope: ${describeOffenders(d.offending)}` },
    });
  });

  web.post('/perimeter/targets', ...guard('operator'), async (c) => {
    const form = await c.req.parseBody();
    const value = field(form, 'value');
    const r = await addTargets(c.var.deps.store, [value], { exclude: field(form, 'exclude') === '1', labels: labelsOf(field(form, 'labels')) });
    return c.redirect(back('/perimeter', 'ok', r.added.length ? `Added ${value}.` : `${value} was already declared.`), 303);
  });

  web.post('/perimeter/targets/import', ...guard('operator', { bodyBytes: 16 * 1024 * 1024 }), async (c) => {
    const form = await c.req.parseBody();
    const report = await importTargetList(c.var.deps.store, field(form, 'list'), {
      exclude: field(form, 'exclude') === '1',
      labels: labelsOf(field(form, 'labels')),
    });
    return perimeterPage(c, { report });
  });

  web.post('/perimeter/targets/remove', ...guard('operator'), async (c) => {
    const form = await c.req.parseBody();
    const value = field(form, 'value');
    await removeTargets(c.var.deps.store, [value]);
    return c.redirect(back('/perimeter', 'ok', `Removed ${value}.`), 303);
  });

  web.get('/perimeter/profiles/new', ...guard('operator'), (c) => render(c, 'New profile', <ProfileForm c={c} p={{}} isNew />));

  web.post('/perimeter/profiles', ...guard('operator'), async (c) => {
    const form = await c.req.parseBody();
    const name = field(form, 'name').toLowerCase();
    try {
      await getProfile(c.var.deps.store, name).then(
        () => {
          throw new PlumError('conflict', `profile ${name} already exists`, { hint: 'edit it, or choose another name' });
        },
        (e: unknown) => {
          if (!(e instanceof PlumError) || e.code !== 'not_found') throw e;
        },
      );
      const p = await saveProfile(c.var.deps.store, profileInput(form, name));
      await c.var.deps.services.profileChanged?.(p.id);
      return c.redirect(back(`/perimeter/profiles/${p.name}`, 'ok', 'Profile created.'), 303);
    } catch (e) {
      if (!(e instanceof PlumError) || !['invalid_input', 'usage', 'conflict', 'unsafe_argument'].includes(e.code)) throw e;
      return render(c, 'New profile', <ProfileForm c={c} p={{ name }} isNew message={e.message} />, 422);
    }
  });

  web.get('/perimeter/profiles/:name', ...guard('viewer'), async (c) => {
    const p = await getProfile(c.var.deps.store, c.req.param('name'));
    const jobs = planJobs(p, await loadPlanTargets(c.var.deps.store));
    const plan = summarisePlan(p, jobs);
    const operator = roleAtLeast(c.var.user.role, 'operator');
    return render(
      c,
      `Profile ${p.name}`,
      <>
        <p>
          {p.description ?? ''} {p.builtin ? '(built in)' : ''} · {p.enabled ? 'enabled' : 'disabled'} · updated <When at={p.updatedAt} />
        </p>
        {operator ? (
          <PostForm c={c} action={`/perimeter/profiles/${p.name}/${p.enabled ? 'disable' : 'enable'}`} class="inline">
            <button type="submit">{p.enabled ? 'Disable' : 'Enable'}</button>
          </PostForm>
        ) : null}
        <section>
          <h2>Plan preview</h2>
          <p>
            {plan.jobs} jobs, {plan.addresses} addresses, {plan.names} names, {plan.probes} port probes; about {Math.round(plan.estimatedSeconds / 60)} min with
            one agent.
          </p>
          <ul>
            {jobs.slice(0, 10).map((j) => (
              <li>
                job {j.index} ({j.kind}): {j.targets.slice(0, 4).join(' ')}
                {j.targets.length > 4 ? ` … (+${j.targets.length - 4})` : ''}
              </li>
            ))}
          </ul>
        </section>
        {operator ? (
          <section>
            <h2>Edit</h2>
            <ProfileForm c={c} p={p} isNew={false} />
          </section>
        ) : (
          <dl class="fields">
            <dt>TCP ports</dt>
            <dd>{p.tcpPorts}</dd>
            <dt>Scripts</dt>
            <dd>{p.scripts.join(', ')}</dd>
            <dt>Cycle</dt>
            <dd>{p.every}</dd>
          </dl>
        )}
      </>,
    );
  });

  web.post('/perimeter/profiles/:name', ...guard('operator'), async (c) => {
    const current = await getProfile(c.var.deps.store, c.req.param('name'));
    const form = await c.req.parseBody();
    try {
      const p = await saveProfile(c.var.deps.store, profileInput(form, current.name, current), { replace: true });
      await c.var.deps.services.profileChanged?.(p.id);
      return c.redirect(back(`/perimeter/profiles/${p.name}`, 'ok', 'Profile saved.'), 303);
    } catch (e) {
      if (!(e instanceof PlumError) || !['invalid_input', 'usage', 'unsafe_argument'].includes(e.code)) throw e;
      return render(c, `Profile ${current.name}`, <ProfileForm c={c} p={current} isNew={false} message={e.message} />, 422);
    }
  });

  for (const action of ['enable', 'disable'] as const) {
    web.post(`/perimeter/profiles/:name/${action}`, ...guard('operator'), async (c) => {
      const p = await setProfileEnabled(c.var.deps.store, c.req.param('name'), action === 'enable');
      await c.var.deps.services.profileChanged?.(p.id);
      return c.redirect(back(`/perimeter/profiles/${p.name}`, 'ok', `Profile ${action}d.`), 303);
    });
  }
}
