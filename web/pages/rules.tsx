import type { Hono } from 'hono';
import { roleAtLeast } from '../../api/auth.ts';
import { testRuleOnHost } from '../../api/views/rules.ts';
import { PlumError } from '../../core/errors.ts';
import { BUILTIN_RULES_DIR } from '../../core/rules/load.ts';
import { getStoredRule, listStoredRules, openRuleContext, setRuleEnabled, syncRulesDir } from '../../store/repos/rules.ts';
import type { WebEnv } from '../context.ts';
import { guard } from '../guard.ts';
import { PostForm, render } from '../layout.tsx';

const RULE_NAME = /^[a-z0-9][a-z0-9_.-]{0,99}$/;

export function registerRules(web: Hono<WebEnv>): void {
  web.get('/rules', ...guard('viewer'), async (c) => {
    const { store, config } = c.var.deps;
    let rules = await listStoredRules(store);
    // As GET /v1/rules: the shipped rules are loaded on first use.
    if (rules.length === 0) {
      await syncRulesDir(store, config.PLUM_RULES_DIR ?? BUILTIN_RULES_DIR);
      rules = await listStoredRules(store);
    }
    const filter = (c.req.query('filter') ?? '').trim().toLowerCase();
    const state = c.req.query('state');
    const shown = rules.filter((r) => (!filter || r.name.includes(filter) || r.tags.some((t) => t.includes(filter)) || r.query.toLowerCase().includes(filter))
      && (state !== 'enabled' || r.enabled) && (state !== 'disabled' || !r.enabled));
    return render(c, 'Rules', (
      <>
        <form method="get" action="/rules" class="filters">
          <label for="filter">Name, tag or query</label>
          <input id="filter" name="filter" value={filter} />
          <label for="state">State</label>
          <select id="state" name="state">
            <option value="">any</option>
            <option value="enabled" selected={state === 'enabled'}>enabled</option>
            <option value="disabled" selected={state === 'disabled'}>disabled</option>
          </select>
          <button type="submit">Filter</button>
        </form>
        <table>
          <caption>{shown.length} of {rules.length} rules</caption>
          <thead><tr><th scope="col">Rule</th><th scope="col">Severity</th><th scope="col">Tags</th><th scope="col">Query</th><th scope="col">Enabled</th></tr></thead>
          <tbody>
            {shown.map((r) => (
              <tr>
                <td><a href={`/rules/${r.name}`}>{r.name}</a></td><td>{r.severity ?? ''}</td><td>{r.tags.join(', ')}</td>
                <td><code>{r.query}</code> <a href={`/search?q=${encodeURIComponent(r.query)}`}>preview<span class="visually-hidden"> what {r.name} tags</span></a></td>
                <td>{r.enabled ? 'yes' : 'no'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </>
    ));
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
    return render(c, `Rule ${rule.name}`, (
      <>
        <p>{rule.description}</p>
        <dl class="fields">
          <dt>Query</dt><dd><code>{rule.query}</code> · <a href={`/search?q=${encodeURIComponent(rule.query)}`}>what it tags now</a></dd>
          <dt>Tags</dt><dd>{rule.tags.join(', ')}</dd>
          <dt>Severity</dt><dd>{rule.severity ?? '—'}</dd>
          <dt>Version</dt><dd>{rule.version}</dd>
          <dt>Source</dt><dd>{rule.source}</dd>
          <dt>References</dt><dd>{rule.references.map((r) => <span class="value">{r}</span>)}</dd>
          <dt>State</dt><dd>{rule.enabled ? 'enabled' : 'disabled'}</dd>
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
          {testError ? <p class="flash error" role="alert">{testError}</p> : null}
          {test ? (
            <table>
              <thead><tr><th scope="col">Port</th><th scope="col">Matches</th><th scope="col">Tags now</th><th scope="col">Stored tags</th></tr></thead>
              <tbody>{test.ports.map((p) => <tr><td>{p.port}/{p.protocol}</td><td>{p.matches ? 'yes' : 'no'}</td><td>{p.tags.join(', ')}</td><td>{p.storedTags.join(', ')}</td></tr>)}</tbody>
            </table>
          ) : null}
        </section>
      </>
    ));
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
