import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import { openStore } from '../store/index.ts';

/** Every path under `root` (itself included) whose mode gives group or others any access. */
function openToOthers(root: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    if (st.isSymbolicLink() || st.isSocket()) return;
    const want = st.isDirectory() ? 0o700 : 0o600;
    if ((st.mode & 0o777) !== want) out.push(`${path.relative(root, p) || '.'} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e));
  };
  walk(root);
  return out;
}

describe("the embedded database home is its owner's alone (pglite)", () => {
  const homes: string[] = [];
  afterEach(() => {
    for (const h of homes.splice(0)) fs.rmSync(h, { recursive: true, force: true });
  });
  const newHome = () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-perm-'));
    homes.push(parent);
    return path.join(parent, 'home');
  };

  it('creates PLUM_HOME and everything in it 0700 (directories) and 0600 (files), whatever the umask', async () => {
    const home = newHome();
    const previous = process.umask(0o000);
    try {
      const store = await openStore(loadConfig({ PLUM_HOME: home }));
      await store.query('create table perm_probe (x int)');
      await store.close();
    } finally {
      process.umask(previous);
    }
    expect(fs.existsSync(path.join(home, 'db', 'global', 'pg_control'))).toBe(true);
    expect(openToOthers(home)).toEqual([]);
  }, 120_000);

  it('takes group and other access away from an existing home when it opens it', async () => {
    const home = newHome();
    await (await openStore(loadConfig({ PLUM_HOME: home }))).close();
    const control = path.join(home, 'db', 'global', 'pg_control');
    fs.chmodSync(home, 0o777);
    fs.chmodSync(path.join(home, 'db'), 0o777);
    fs.chmodSync(control, 0o666);
    fs.writeFileSync(path.join(home, 'notes.txt'), 'x', { mode: 0o644 });
    fs.chmodSync(path.join(home, 'notes.txt'), 0o644);
    await (await openStore(loadConfig({ PLUM_HOME: home }))).close();
    expect(openToOthers(home)).toEqual([]);
  }, 120_000);
});
