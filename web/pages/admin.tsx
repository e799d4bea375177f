import type { Context, Hono } from 'hono';
import { PlumError } from '../../core/errors.ts';
import { createAgentToken, listAgentTokens, listAgents, revokeAgentToken } from '../../store/repos/agents.ts';
import { API_KEY_ROLES, createApiKey, listApiKeys, revokeApiKey } from '../../store/repos/apikeys.ts';
import { createUser, listUsers, removeUser, setUserPassword, setUserRole, unlockUser } from '../../store/repos/users.ts';
import type { WebEnv } from '../context.ts';
import { guard } from '../guard.ts';
import { PostForm, render, When } from '../layout.tsx';

type Form = Record<string, string | File | (string | File)[]>;
const field = (form: Form, k: string) => (typeof form[k] === 'string' ? (form[k] as string).trim() : '');
const back = (kind: 'ok' | 'error', message: string) => `/admin?${kind}=${encodeURIComponent(message.slice(0, 500))}`;

function RoleSelect({ id, current }: { id: string; current?: string }) {
  return (
    <select id={id} name="role">
      {API_KEY_ROLES.map((r) => (
        <option value={r} selected={r === current}>
          {r}
        </option>
      ))}
    </select>
  );
}

async function adminPage(c: Context<WebEnv>, secret?: { what: string; value: string }) {
  const { store } = c.var.deps;
  const [users, keys, agents, tokens] = await Promise.all([listUsers(store), listApiKeys(store), listAgents(store), listAgentTokens(store)]);
  const agentName = new Map(agents.map((a) => [a.id, a.name]));
  return render(
    c,
    'Administration',
    <>
      {secret ? (
        <section class="secret" aria-label="New secret">
          <p class="flash ok" role="status">
            {secret.what}: copy it now, it is not shown again.
          </p>
          <p>
            <code class="secret-value">{secret.value}</code>
          </p>
        </section>
      ) : null}
      <section>
        <h2>Users</h2>
        <table>
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Role</th>
              <th scope="col">Last login</th>
              <th scope="col">Locked until</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {users.map((u) => (
              <tr>
                <td>{u.name}</td>
                <td>
                  <PostForm c={c} action={`/admin/users/${encodeURIComponent(u.name)}/role`} class="inline">
                    <label class="visually-hidden" for={`role-${u.id}`}>
                      Role of {u.name}
                    </label>
                    <RoleSelect id={`role-${u.id}`} current={u.role} />
                    <button type="submit">Set</button>
                  </PostForm>
                </td>
                <td>
                  <When at={u.lastLoginAt} />
                </td>
                <td>
                  {u.lockedUntil && new Date(u.lockedUntil) > new Date() ? (
                    <PostForm c={c} action={`/admin/users/${encodeURIComponent(u.name)}/unlock`} class="inline">
                      <When at={u.lockedUntil} /> <button type="submit">Unlock</button>
                    </PostForm>
                  ) : (
                    '—'
                  )}
                </td>
                <td>
                  {u.id !== c.var.user.id ? (
                    <PostForm c={c} action={`/admin/users/${encodeURIComponent(u.name)}/remove`} class="inline">
                      <button type="submit" aria-label={`Remove ${u.name}`}>
                        Remove
                      </button>
                    </PostForm>
                  ) : (
                    'you'
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <div class="columns">
          <PostForm c={c} action="/admin/users" class="stacked">
            <h3>Add a user</h3>
            <label for="u-name">Name</label>
            <input id="u-name" name="name" required autocomplete="off" />
            <label for="u-role">Role</label>
            <RoleSelect id="u-role" />
            <label for="u-password">Password (at least 10 characters)</label>
            <input id="u-password" name="password" type="password" required autocomplete="new-password" />
            <button type="submit">Add</button>
          </PostForm>
          <PostForm c={c} action="/admin/users/password" class="stacked">
            <h3>Set a password</h3>
            <label for="pw-name">User</label>
            <select id="pw-name" name="name">
              {users.map((u) => (
                <option value={u.name}>{u.name}</option>
              ))}
            </select>
            <label for="pw-password">New password</label>
            <input id="pw-password" name="password" type="password" required autocomplete="new-password" />
            <button type="submit">Set</button>
          </PostForm>
        </div>
      </section>
      <section>
        <h2>API keys</h2>
        <table>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Prefix</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">Revoke</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr>
                <td>{k.id}</td>
                <td>{k.name}</td>
                <td>{k.role}</td>
                <td>
                  <code>{k.prefix}…</code>
                </td>
                <td>
                  <When at={k.createdAt} />
                </td>
                <td>
                  <When at={k.lastUsedAt} />
                </td>
                <td>
                  <PostForm c={c} action={`/admin/keys/${k.id}/revoke`} class="inline">
                    <button type="submit" aria-label={`Revoke ${k.name}`}>
                      Revoke
                    </button>
                  </PostForm>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <PostForm c={c} action="/admin/keys" class="stacked">
          <h3>Create a key</h3>
          <label for="k-name">What it is for</label>
          <input id="k-name" name="name" />
          <label for="k-role">Role</label>
          <RoleSelect id="k-role" />
          <button type="submit">Create</button>
        </PostForm>
      </section>
      <section>
        <h2>Agent tokens</h2>
        <table>
          <thead>
            <tr>
              <th scope="col">Token</th>
              <th scope="col">Agent</th>
              <th scope="col">Prefix</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">Revoke</th>
            </tr>
          </thead>
          <tbody>
            {tokens.map((t) => (
              <tr>
                <td>{t.id}</td>
                <td>{agentName.get(t.agentId) ?? t.agentId}</td>
                <td>
                  <code>{t.prefix}…</code>
                </td>
                <td>
                  <When at={t.createdAt} />
                </td>
                <td>
                  <When at={t.lastUsedAt} />
                </td>
                <td>
                  <PostForm c={c} action={`/admin/agent-tokens/${t.id}/revoke`} class="inline">
                    <button type="submit" aria-label={`Revoke ${t.id}`}>
                      Revoke
                    </button>
                  </PostForm>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <PostForm c={c} action="/admin/agent-tokens" class="stacked">
          <h3>Issue an agent token</h3>
          <label for="a-name">Agent name</label>
          <input id="a-name" name="agent" required />
          <button type="submit">Issue</button>
        </PostForm>
      </section>
    </>,
  );
}

/** Runs an admin action; bad input comes back as a message on the page instead of an error page. */
async function act(c: Context<WebEnv>, fn: (form: Form) => Promise<string>) {
  const form = await c.req.parseBody();
  try {
    return c.redirect(back('ok', await fn(form)), 303);
  } catch (e) {
    if (!(e instanceof PlumError) || !['invalid_input', 'usage', 'conflict', 'not_found'].includes(e.code)) throw e;
    return c.redirect(back('error', e.message), 303);
  }
}

export function registerAdmin(web: Hono<WebEnv>): void {
  web.get('/admin', ...guard('admin'), (c) => adminPage(c));

  web.post('/admin/users', ...guard('admin'), (c) =>
    act(c, async (f) => {
      const u = await createUser(c.var.deps.store, {
        name: field(f, 'name'),
        role: field(f, 'role'),
        password: typeof f.password === 'string' ? f.password : '',
      });
      return `Created ${u.role} user ${u.name}.`;
    }),
  );
  web.post('/admin/users/password', ...guard('admin'), (c) =>
    act(c, async (f) => {
      const u = await setUserPassword(c.var.deps.store, field(f, 'name'), typeof f.password === 'string' ? f.password : '');
      return `Password of ${u.name} set; their sessions ended.`;
    }),
  );
  web.post('/admin/users/:name/role', ...guard('admin'), (c) =>
    act(c, async (f) => {
      const name = c.req.param('name');
      if (name === c.var.user.name) throw new PlumError('invalid_input', 'you cannot change your own role', { hint: 'ask another admin' });
      const u = await setUserRole(c.var.deps.store, name, field(f, 'role'));
      return `${u.name} is now ${u.role}.`;
    }),
  );
  web.post('/admin/users/:name/unlock', ...guard('admin'), (c) =>
    act(c, async () => {
      const u = await unlockUser(c.var.deps.store, c.req.param('name'));
      return `${u.name} unlocked.`;
    }),
  );
  web.post('/admin/users/:name/remove', ...guard('admin'), (c) =>
    act(c, async () => {
      const name = c.req.param('name');
      if (name === c.var.user.name) throw new PlumError('invalid_input', 'you cannot remove yourself', { hint: 'ask another admin' });
      await removeUser(c.var.deps.store, name);
      return `Removed ${name}.`;
    }),
  );

  web.post('/admin/keys', ...guard('admin'), async (c) => {
    const f = await c.req.parseBody();
    const { key, info } = await createApiKey(c.var.deps.store, {
      role: field(f, 'role') as never,
      name: field(f, 'name') || undefined,
      createdBy: `user:${c.var.user.name}`,
    });
    return adminPage(c, { what: `API key ${info.id} (${info.role})`, value: key });
  });
  web.post('/admin/keys/:id/revoke', ...guard('admin'), (c) =>
    act(c, async () => {
      const k = await revokeApiKey(c.var.deps.store, c.req.param('id'));
      return `Key ${k.id} revoked.`;
    }),
  );

  web.post('/admin/agent-tokens', ...guard('admin'), async (c) => {
    const f = await c.req.parseBody();
    const { token, agent, info } = await createAgentToken(c.var.deps.store, { agent: field(f, 'agent') });
    return adminPage(c, { what: `Agent token ${info.id} for ${agent.name}`, value: token });
  });
  web.post('/admin/agent-tokens/:id/revoke', ...guard('admin'), (c) =>
    act(c, async () => {
      const t = await revokeAgentToken(c.var.deps.store, c.req.param('id'));
      return `Agent token ${t.id} revoked.`;
    }),
  );
}
