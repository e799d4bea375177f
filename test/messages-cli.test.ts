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
