import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPlum } from '../helpers/cli.ts';

/** Issue #31: scripts that broadcast, contact third parties or attack are refused unless allowed by name. */
describe('plum profile add: NSE script policy', () => {
  let home: string;
  const plum = (args: string[]) => runPlum(args, { PLUM_HOME: home });
  beforeAll(async () => {
    home = await fs.mkdtemp(path.join(os.tmpdir(), 'plum-sec-'));
    expect((await plum(['init'])).code).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await fs.rm(home, { recursive: true, force: true });
  });

  it('refuses a dos script with one line, accepts it once allowed by name, and records the allowance', async () => {
    const refused = await plum(['profile', 'add', 'slow', '--ports', '80', '--scripts', 'http-title,http-slowloris']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/refused NSE script "http-slowloris": it is in the dos, intrusive categories/);
    const unknown = await plum(['profile', 'add', 'slow', '--ports', '80', '--scripts', 'http-slowlorris']);
    expect(unknown.stderr).toMatch(/unknown NSE script "http-slowlorris"/);

    const ok = await plum(['profile', 'add', 'slow', '--ports', '80', '--scripts', 'http-slowloris', '--allow-script', 'http-slowloris', '--format', 'json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ scripts: ['http-slowloris'], allow_scripts: ['http-slowloris'] });
    const shown = await plum(['profile', 'show', 'slow']);
    expect(shown.stdout + shown.stderr).toMatch(/allowed: +http-slowloris \(refused categories, allowed by an admin\)/);
  }, 60_000);
});
