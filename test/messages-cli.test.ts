import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runPlum } from './helpers/cli.ts';
import { makeTestConfig, storeKinds } from './helpers/db.ts';

/** Counts in messages are English: "1 target (1 address, 0 names)", "1 job", "1 shared address". */
describe.each(storeKinds)('counts in CLI messages (%s)', (kind) => {
  it('target add and plan say 1 address, 1 job, 1 shared address', async () => {
    const { config, drop } = await makeTestConfig(kind);
    const env: Record<string, string> = { PLUM_HOME: config.home, ...(config.PLUM_DATABASE_URL ? { PLUM_DATABASE_URL: config.PLUM_DATABASE_URL } : {}) };
    try {
      const add = await runPlum(['target', 'add', '127.0.91.1/32'], env);
      expect(add.code, add.stderr).toBe(0);
      expect(add.stderr).toContain('added 1 target (1 address, 0 names)');
      const overlap = await runPlum(['target', 'add', '127.0.91.0/31'], env);
      expect(overlap.stderr).toContain('added 1 target (2 addresses, 0 names)');
      expect(overlap.stderr).toContain('(1 shared address)');
      const plan = await runPlum(['plan', 'banner'], env);
      expect(plan.code, plan.stderr).toBe(0);
      expect(plan.stderr).toMatch(/profile banner: 1 job, 2 addresses, 0 names, 6 port probes;/);
    } finally {
      await drop();
    }
  }, 120_000);
});

describe('commands run outside a Plum home', () => {
  it('a read says where it looked and creates nothing; a write creates the home', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-nohome-'));
    const home = path.join(dir, '.plum');
    const env = { PLUM_HOME: home, PLUM_DATABASE_URL: '' };
    try {
      for (const args of [['search', 'port:22'], ['host', '127.0.0.1'], ['history'], ['runs'], ['rules', 'list'], ['target', 'list'], ['export']]) {
        const r = await runPlum(args, env);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
        expect(r.stdout).toBe('');
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr).toContain(`no Plum home at ${home}`);
        expect(r.stderr).toMatch(/set PLUM_HOME to that home's path, or create one here with `(npx )?plum init`/);
        expect(fs.existsSync(home), args.join(' ')).toBe(false);
      }
      const add = await runPlum(['target', 'add', '127.0.92.1'], env);
      expect(add.code, add.stderr).toBe(0);
      expect(fs.existsSync(path.join(home, 'db'))).toBe(true);
      const list = await runPlum(['target', 'list'], env);
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout).toContain('127.0.92.1');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
