import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createUser,
  createWebSession,
  findWebSession,
  listUsers,
  removeUser,
  setUserPassword,
  setUserRole,
  unlockUser,
  verifyLogin,
} from '../../store/repos/users.ts';
import { runPlum } from '../helpers/cli.ts';
import { openStore, type Store } from '../../store/index.ts';
import { cliEnvOf, makeTestConfig, storeKinds } from '../helpers/db.ts';

const PW = 'correct horse battery';
const HOUR = 3_600_000;

describe.each(storeKinds)('web accounts (%s)', (kind) => {
  let ts: { store: Store; config: Awaited<ReturnType<typeof makeTestConfig>>['config']; drop(): Promise<void> };
  beforeAll(async () => {
    const { config, drop } = await makeTestConfig(kind);
    // Shared like `plum serve` does, so the `plum user` commands below reach the same embedded database.
    ts = { store: await openStore(config, { share: true }), config, drop };
  }, 120_000);
  afterAll(async () => {
    await ts?.store.close();
    await ts?.drop();
  });

  it('creates a user with a scrypt hash and logs in with the right password only', async () => {
    const u = await createUser(ts.store, { name: 'ana', role: 'operator', password: PW });
    expect(u).toMatchObject({ name: 'ana', role: 'operator', failedLogins: 0 });
    expect(u).not.toHaveProperty('passwordHash');
    const [row] = await ts.store.query<{ password_hash: string }>('select password_hash from users where name = $1', ['ana']);
    expect(row!.password_hash).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(row!.password_hash).not.toContain(PW);
    expect(await verifyLogin(ts.store, 'ana', PW)).toMatchObject({ ok: true, user: { name: 'ana' } });
    expect(await verifyLogin(ts.store, 'ana', 'wrong password!')).toEqual({ ok: false, reason: 'invalid' });
    expect(await verifyLogin(ts.store, 'nobody', PW)).toEqual({ ok: false, reason: 'invalid' });
  });

  it.each([
    [{ name: 'bad name!', role: 'viewer', password: PW }, /invalid user name/],
    [{ name: 'bo', role: 'root', password: PW }, /unknown role "root"/],
    [{ name: 'bo', role: 'viewer', password: 'short' }, /shorter than 10 characters/],
    [{ name: 'ana', role: 'viewer', password: PW }, /already exists/],
  ])('refuses %j', async (input, message) => {
    await expect(createUser(ts.store, input)).rejects.toThrow(message);
  });

  it('locks an account after repeated failures, refuses even the right password while locked, then lets it in after the lock', async () => {
    await createUser(ts.store, { name: 'lock-me', role: 'viewer', password: PW });
    const policy = { maxFailures: 3, lockMs: HOUR };
    const t0 = new Date();
    expect((await verifyLogin(ts.store, 'lock-me', 'bad password 1', policy, t0)).ok).toBe(false);
    expect((await verifyLogin(ts.store, 'lock-me', 'bad password 2', policy, t0)).ok).toBe(false);
    const third = await verifyLogin(ts.store, 'lock-me', 'bad password 3', policy, t0);
    expect(third).toMatchObject({ ok: false, reason: 'locked' });
    expect(await verifyLogin(ts.store, 'lock-me', PW, policy, new Date(t0.getTime() + 1000))).toMatchObject({ ok: false, reason: 'locked' });
    expect(await verifyLogin(ts.store, 'lock-me', PW, policy, new Date(t0.getTime() + HOUR + 1000))).toMatchObject({ ok: true });
    // Unlock by an admin clears a lock at once.
    for (let i = 0; i < 3; i++) await verifyLogin(ts.store, 'lock-me', 'bad again', policy);
    expect(await verifyLogin(ts.store, 'lock-me', PW, policy)).toMatchObject({ reason: 'locked' });
    await unlockUser(ts.store, 'lock-me');
    expect(await verifyLogin(ts.store, 'lock-me', PW, policy)).toMatchObject({ ok: true });
  });

  it('sessions: found by their secret only, expire, and end on a password or role change', async () => {
    const u = await createUser(ts.store, { name: 'sess', role: 'viewer', password: PW });
    const s = await createWebSession(ts.store, u.id, HOUR);
    expect(await findWebSession(ts.store, s.secret, HOUR)).toMatchObject({ user: { name: 'sess' }, csrfToken: s.csrfToken });
    // Another secret differing in its last character only (never the same one: a secret may end in A).
    expect(await findWebSession(ts.store, `${s.secret.slice(0, -1)}${s.secret.endsWith('A') ? 'B' : 'A'}`, HOUR)).toBeUndefined();
    const [stored] = await ts.store.query<{ id: string }>('select id from web_sessions where user_id = $1', [u.id]);
    expect(stored!.id).not.toBe(s.secret);
    expect(await findWebSession(ts.store, s.secret, HOUR, new Date(Date.now() + 2 * HOUR))).toBeUndefined();
    await setUserRole(ts.store, 'sess', 'operator');
    expect(await findWebSession(ts.store, s.secret, HOUR)).toBeUndefined();
    const s2 = await createWebSession(ts.store, u.id, HOUR);
    await setUserPassword(ts.store, 'sess', 'another good one');
    expect(await findWebSession(ts.store, s2.secret, HOUR)).toBeUndefined();
    expect(await verifyLogin(ts.store, 'sess', 'another good one')).toMatchObject({ ok: true, user: { role: 'operator' } });
    const s3 = await createWebSession(ts.store, u.id, HOUR);
    await removeUser(ts.store, 'sess');
    expect(await findWebSession(ts.store, s3.secret, HOUR)).toBeUndefined();
  });

  it('plum user add/list/passwd/rm, with the password on standard input', async () => {
    const env = cliEnvOf(ts.config);
    const add = await runPlum(['user', 'add', 'cli-user', '--role', 'admin', '--password-stdin'], env, `${PW}\n`);
    expect(add.stderr).toContain('created admin user cli-user');
    expect(add.code).toBe(0);
    expect(await verifyLogin(ts.store, 'cli-user', PW)).toMatchObject({ ok: true });
    const list = await runPlum(['user', 'list', '--format', 'json'], env);
    expect((JSON.parse(list.stdout) as { name: string }[]).map((u) => u.name)).toContain('cli-user');
    expect(list.stdout).not.toContain('scrypt');
    const passwd = await runPlum(['user', 'passwd', 'cli-user', '--password-stdin'], env, 'new long password');
    expect(passwd.code).toBe(0);
    expect(await verifyLogin(ts.store, 'cli-user', 'new long password')).toMatchObject({ ok: true });
    const short = await runPlum(['user', 'passwd', 'cli-user', '--password-stdin'], env, 'short');
    expect(short.code).not.toBe(0);
    expect(short.stderr).toContain('shorter than 10 characters');
    const noTty = await runPlum(['user', 'add', 'x-user', '--role', 'viewer'], env);
    expect(noTty.code).toBe(2);
    expect(noTty.stderr).toContain('--password-stdin');
    const rm = await runPlum(['user', 'rm', 'cli-user'], env);
    expect(rm.code).toBe(0);
    expect((await listUsers(ts.store)).map((u) => u.name)).not.toContain('cli-user');
  });
});
