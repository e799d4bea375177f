import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runPlum } from './helpers/cli.ts';
import { makeTestConfig, storeKinds } from './helpers/db.ts';

/**
 * `plum scheduler` is a long-running holder of the database: while it runs,
 * other plum commands keep working (PGlite: through its $PLUM_HOME/plum.sock).
 */
describe.each(storeKinds)('plum scheduler beside other commands (%s)', (kind) => {
  it('other commands work while the scheduler runs; SIGTERM stops it', async () => {
    const { config, drop } = await makeTestConfig(kind);
    const env: Record<string, string> = { PLUM_HOME: config.home, ...(config.PLUM_DATABASE_URL ? { PLUM_DATABASE_URL: config.PLUM_DATABASE_URL } : {}) };
    const scheduler = spawn(process.execPath, [path.join(ROOT, 'bin', 'plum.mjs'), 'scheduler', '--interval', '3600'], {
      env: { ...process.env, ...env },
      cwd: ROOT,
    });
    let err = '';
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`scheduler did not start: ${err}`)), 90_000);
        scheduler.stderr.on('data', (d) => {
          err += d;
          if (err.includes('scheduler running')) {
            clearTimeout(t);
            resolve();
          }
        });
        scheduler.on('exit', (code) => reject(new Error(`scheduler exited with ${code}: ${err}`)));
      });
      const add = await runPlum(['target', 'add', '127.0.44.0/30'], env);
      expect(add.code, add.stderr).toBe(0);
      const list = await runPlum(['target', 'list', '--format', 'json'], env);
      expect(list.code, list.stderr).toBe(0);
      expect((JSON.parse(list.stdout) as { value: string }[]).map((t) => t.value)).toEqual(['127.0.44.0/30']);
      const exited = new Promise<number | null>((resolve) => scheduler.once('exit', resolve));
      scheduler.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (scheduler.exitCode === null) scheduler.kill('SIGKILL');
      await drop();
    }
  }, 240_000);
});
