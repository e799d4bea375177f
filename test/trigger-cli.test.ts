import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnvOf, makeTestConfig } from './helpers/db.ts';
import { runPlum } from './helpers/cli.ts';

/** `plum profile add --trigger` through the real command: what it saves, and what it refuses, in one line each. */
describe('plum profile add --trigger', () => {
  let env: Record<string, string>;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const t = await makeTestConfig('pglite');
    env = cliEnvOf(t.config);
    drop = t.drop;
  });
  afterAll(() => drop?.());

  it('saves a trigger profile without ports, cycle or targets, and shows its query', async () => {
    const add = await runPlum(['profile', 'add', 'listing', '--trigger', 'http_title.lk:"index of"', '--scripts', 'http-ls', '--format', 'json'], env);
    expect(add.code, add.stderr).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({
      name: 'listing',
      trigger: 'http_title.lk:"index of"',
      every: null,
      targets: null,
      tcp_ports: '',
      scripts: ['http-ls'],
    });
    const show = await runPlum(['profile', 'show', 'listing'], env);
    expect(show.stdout).toContain('trigger:      http_title.lk:"index of" (scans the address and port of each new finding it matches)');
    expect(show.stdout).not.toMatch(/^every:/m);
    const run = await runPlum(['run', 'listing'], env);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/^plum: profile listing is a trigger profile: it scans what its query matches, not targets/);
  }, 120_000);

  it.each([
    [
      ['--trigger', 'http_title.lk:"index of" AND (port:80'],
      "plum: invalid profile trigger: unclosed parenthesis at position 29 (add ')' to close the parenthesis opened at position 29)",
    ],
    [
      ['--trigger', 'port:80', '--every', '1d'],
      "plum: invalid profile every: a trigger profile has no schedule: it runs when its query matches a new finding (remove --every (the API's every), or drop the trigger for a scheduled profile)",
    ],
    [
      ['--trigger', 'port:80', '--targets', 'label:dmz'],
      "plum: invalid profile targets: a trigger profile has no target selection: it scans the address of each finding (remove --targets (the API's targets), or drop the trigger for a scheduled profile)",
    ],
    [
      ['--trigger', 'port:80', '--ports', '80'],
      "plum: invalid profile tcpPorts: a trigger profile has no ports: it scans the port of each finding (remove --ports (the API's tcpPorts), or drop the trigger for a scheduled profile)",
    ],
    [
      [],
      'plum: invalid profile tcpPorts: empty TCP ports list (give ports like 22,80,443 or 8000-8100, or a --trigger query for a profile that scans what a query finds)',
    ],
  ])(
    'refuses %j in one line',
    async (args, line) => {
      const r = await runPlum(['profile', 'add', 'bad', ...args], env);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`${line}\n`);
    },
    60_000,
  );
});
