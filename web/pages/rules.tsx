import type { Context, Hono } from 'hono';
import { roleAtLeast } from '../../api/auth.ts';
import { importRuleUploads, testRuleOnHost } from '../../api/views/rules.ts';
import { PlumError } from '../../core/errors.ts';
import { BUILTIN_RULES_DIR } from '../../core/rules/load.ts';
import { getStoredRule, listStoredRules, openRuleContext, setRuleEnabled, syncRulesDir, type RuleMergeResult } from '../../store/rules/index.ts';
import type { WebEnv } from '../context.ts';
import { guard } from '../guard.ts';
import { Csrf, PostForm, render } from '../layout.tsx';

const RULE_NAME = /^[a-z0-9][a-z0-9_.-]{0,99}$/;

function ImportReport({ r }: { r: RuleMergeResult }) {
  const problems = [
    ...r.invalid.map((p) => ({ ...p, kind: 'invalid' })),
    ...r.skipped.map((p) => ({ ...p, kind: 'skipped' })),
    ...(r.notes ?? []).map((p) => ({ ...p, kind: 'rewritten' })),
  ];
  return (
    <section class="import-report" aria-label="Import report">
      <h2>Import report</h2>
      <p role="status">
        {r.imported.length} imported, {r.updated.length} updated, {r.skipped.length} skipped, {r.invalid.length} invalid.
        {r.imported.length + r.updated.length ? ' Stored tags change at the next `plum rules apply` or scan.' : ''}
      </p>
      {r.imported.length + r.updated.length ? (
        <p>
          Accepted:{' '}
          {[...r.imported, ...r.updated].map((n, i) => (
            <>
              {i ? ', ' : ''}
              <a href={`/rules/${n}`}>{n}</a>
            </>
          ))}
        </p>
      ) : null}
      {problems.length ? (
        <table>
          <caption>Files not imported as they were</caption>
          <thead>
            <tr>
              <th scope="col">File</th>
              <th scope="col">Outcome</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {problems.map((p) => (
              <tr>
                <td>{p.file}</td>
                <td>{p.kind}</td>
                <td>{p.reason}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

/** Upload of rule files (multipart, with the CSRF token as a field), for operators. */
function ImportForm({ c, message }: { c: Context<WebEnv>; message?: string }) {
  return (
    <form method="post" action="/rules/import" enctype="multipart/form-data" class="stacked">
      <h2>Import rules</h2>
      {message ? (
        <p class="flash error" role="alert">
          {message}
        </p>
      ) : null}
      <Csrf c={c} />
      <label for="rule-files">
        Rule files (YAML, as <code>plum rules import</code> reads them: description, query, tags, version; the newest version wins)
      </label>
      <input id="rule-files" name="files" type="file" accept=".yaml,.yml" multiple required />
      <button type="submit">Import the rules</button>
    </form>
  );
}

/** The stored rules; as GET /v1/rules, the shipped rules are loaded on first use (before an import too, as `plum rules import` does). */
async function storedRules(c: Context<WebEnv>) {
  const { store, config } = c.var.deps;
  const rules = await listStoredRules(store);
  if (rules.length > 0) return rules;
  await syncRulesDir(store, config.PLUM_RULES_DIR ?? BUILTIN_RULES_DIR);
  return listStoredRules(store);
}

async function rulesPage(c: Context<WebEnv>, importResult?: RuleMergeResult, importError?: string) {
  const rules = await storedRules(c);
  const filter = (c.req.query('filter') ?? '').trim().toLowerCase();
  const state = c.req.query('state');
  const shown = rules.filter(
    (r) =>
      (!filter || r.name.includes(filter) || r.tags.some((t) => t.includes(filter)) || r.query.toLowerCase().includes(filter)) &&
      (state !== 'enabled' || r.enabled) &&
      (state !== 'disabled' || !r.enabled),
  );
  return render(
    c,
    'Rules',
    <>
      {importResult ? <ImportReport r={importResult} /> : null}
      <form method="get" action="/rules" class="filters">
        <label for="filter">Name, tag or query</label>
        <input id="filter" name="filter" value={filter} />
        <label for="state">State</label>
        <select id="state" name="state">
          <option value="">any</option>
          <option value="enabled" selected={state === 'enabled'}>
            enabled
          </option>
          <option value="disabled" selected={state === 'disabled'}>
            disabled
          </option>
        </select>
        <button type="submit">Filter</button>
      </form>
      <table>
        <caption>
          {shown.length} of {rules.length} rules
        </caption>
        <thead>
          <tr>
            <th scope="col">Rule</th>
            <th scope="col">Severity</th>
            <th scope="col">Tags</th>
            <th scope="col">Query</th>
            <th scope="col">Enabled</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((r) => (
            <tr>
              <td>
                <a href={`/rules/${r.name}`}>{r.name}</a>
              </td>
              <td>{r.severity ?? ''}</td>
              <td>{r.tags.join(', ')}</td>
              <td>
                <code>{r.query}</code>{' '}
                <a href={`/search?q=${encodeURIComponent(r.query)}`}>
                  preview<span class="visually-hidden"> what {r.name} tags</span>
                </a>
              </td>
              <td>{r.enabled ? 'yes' : 'no'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {roleAtLeast(c.var.user.role, 'operator') ? <ImportForm c={c} message={importError} /> : null}
    </>,
    importError ? 422 : 200,
  );
}

export function registerRules(web: Hono<WebEnv>): void {
  web.get('/rules', ...guard('viewer'), (c) => rulesPage(c));

  web.post('/rules/import', ...guard('operator', { bodyBytes: 16 * 1024 * 1024 }), async (c) => {
    const form = await c.req.parseBody({ all: true });
    const sent = form.files === undefined ? [] : Array.isArray(form.files) ? form.files : [form.files];
    // An empty file input still sends one part with no name and no bytes.
    const files = sent.filter((f): f is File => typeof f !== 'string' && (f.name !== '' || f.size > 0));
    let result: RuleMergeResult;
    await storedRules(c);
    try {
      result = await importRuleUploads(
        c.var.deps.store,
        await Promise.all(files.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) }))),
      );
    } catch (e) {
      if (!(e instanceof PlumError) || !['invalid_input', 'payload_too_large'].includes(e.code)) throw e;
      return rulesPage(c, undefined, e.message);
    }
    return rulesPage(c, result);
  });

  web.get('/rules/:name', ...guard('viewer'), async (c) => {
    const name = c.req.param('name');
    if (!RULE_NAME.test(name)) throw new PlumError('invalid_input', 'not a rule name', { hint: 'open a rule from the rules page' });
    const { store, config } = c.var.deps;
    const rule = await getStoredRule(store, name);
    if (!rule) throw new PlumError('not_found', `no rule ${name}`, { hint: 'see the rules page' });
    const ip = (c.req.query('ip') ?? '').trim();
    let test: Awaited<ReturnType<typeof testRuleOnHost>> | undefined;
    let testError: string | undefined;
    if (ip) {
      try {
        test = await testRuleOnHost(store, await openRuleContext(store, config), name, ip);
      } catch (e) {
        if (!(e instanceof PlumError) || !['not_found', 'invalid_input'].includes(e.code)) throw e;
        testError = e.message;
      }
    }
    return render(
      c,
      `Rule ${rule.name}`,
      <>
        <p>{rule.description}</p>
        <dl class="fields">
          <dt>Query</dt>
          <dd>
            <code>{rule.query}</code> · <a href={`/search?q=${encodeURIComponent(rule.query)}`}>what it tags now</a>
          </dd>
          <dt>Tags</dt>
          <dd>{rule.tags.join(', ')}</dd>
          <dt>Severity</dt>
          <dd>{rule.severity ?? '—'}</dd>
          <dt>Version</dt>
          <dd>{rule.version}</dd>
          <dt>Source</dt>
          <dd>{rule.source}</dd>
          <dt>References</dt>
          <dd>
            {rule.references.map((r) => (
              <span class="value">{r}</span>
            ))}
          </dd>
          <dt>State</dt>
          <dd>{rule.enabled ? 'enabled' : 'disabled'}</dd>
        </dl>
        {roleAtLeast(c.var.user.role, 'operator') ? (
          <PostForm c={c} action={`/rules/${rule.name}/${rule.enabled ? 'disable' : 'enable'}`} class="inline">
            <button type="submit">{rule.enabled ? 'Disable' : 'Enable'}</button>
          </PostForm>
        ) : null}
        <section>
          <h2>Test on a host</h2>
          <form method="get" action={`/rules/${rule.name}`} class="filters">
            <label for="rule-ip">Address</label>
            <input id="rule-ip" name="ip" value={ip} required />
            <button type="submit">Test</button>
          </form>
          {testError ? (
            <p class="flash error" role="alert">
              {testError}
            </p>
          ) : null}
          {test ? (
            <table>
              <thead>
                <tr>
                  <th scope="col">Port</th>
                  <th scope="col">Matches</th>
                  <th scope="col">Tags now</th>
                  <th scope="col">Stored tags</th>
                </tr>
              </thead>
              <tbody>
                {test.ports.map((p) => (
                  <tr>
                    <td>
                      {p.port}/{p.protocol}
                    </td>
                    <td>{p.matches ? 'yes' : 'no'}</td>
                    <td>{p.tags.join(', ')}</td>
                    <td>{p.storedTags.join(', ')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
        </section>
      </>,
    );
  });

  for (const action of ['enable', 'disable'] as const) {
    web.post(`/rules/:name/${action}`, ...guard('operator'), async (c) => {
      const name = c.req.param('name');
      if (!RULE_NAME.test(name)) throw new PlumError('invalid_input', 'not a rule name');
      await setRuleEnabled(c.var.deps.store, name, action === 'enable');
      return c.redirect(`/rules/${name}?ok=${encodeURIComponent(`Rule ${action}d; stored tags change at the next \`plum rules apply\` or scan.`)}`, 303);
    });
  }
}
