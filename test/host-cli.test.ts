import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runPlum } from './helpers/cli.ts';
import { makeTestConfig, storeKinds } from './helpers/db.ts';

const CIRCL = path.join(ROOT, 'test', 'fixtures', 'nmap', 'circl.xml');

/** `plum host` shows the host score the README promises, the same as `plum explain`. */
describe.each(storeKinds)('plum host shows the host score (%s)', (kind) => {
  it('table and JSON carry the stored score and band', async () => {
    const { config, drop } = await makeTestConfig(kind);
    const env: Record<string, string> = { PLUM_HOME: config.home, ...(config.PLUM_DATABASE_URL ? { PLUM_DATABASE_URL: config.PLUM_DATABASE_URL } : {}) };
    try {
      const ingest = await runPlum(['ingest', CIRCL], env);
      expect(ingest.code, ingest.stderr).toBe(0);
      const explain = await runPlum(['explain', '185.194.93.14', '--format', 'json'], env);
      expect(explain.code, explain.stderr).toBe(0);
      const explained = JSON.parse(explain.stdout) as { score: number; band: string };
      const table = await runPlum(['host', '185.194.93.14'], env);
      expect(table.code, table.stderr).toBe(0);
      expect(table.stdout).toContain(`score: ${explained.score} (${explained.band}; plum explain 185.194.93.14 says why)`);
      const json = await runPlum(['host', '185.194.93.14', '--format', 'json'], env);
      expect((JSON.parse(json.stdout) as { score: unknown }).score).toEqual({ score: explained.score, band: explained.band });
    } finally {
      await drop();
    }
  }, 120_000);
});
