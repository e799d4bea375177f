import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runPlum } from '../helpers/cli.ts';
import { makeTestConfig } from '../helpers/db.ts';
import { freePort } from '../helpers/net.ts';

/**
 * Property-based fuzzing of the whole HTTP API from its own OpenAPI document
 * with schemathesis (pip `schemathesis`, installed by .ci/run; PLUM_SCHEMATHESIS
 * names another binary). `plum serve` runs on a loopback port over a fresh
 * PostgreSQL database with an admin key; schemathesis generates valid and
 * invalid requests for every operation and fails on any 5xx.
 *
 * Bounded: a fixed seed and a few examples per operation (a minute or so).
 * Excluded: POST /v1/investigations (the embedded runner would scan whatever
 * the fuzzer declared as perimeter; scans stay on 127.0.0.0/8) and the
 * /v1/events stream (it never ends). Agent routes only see an API key here
 * (403); their bad input is covered by test/api/agent-upload.test.ts.
 */
const SCHEMATHESIS = process.env.PLUM_SCHEMATHESIS ?? 'schemathesis';
const EXAMPLES_PER_OPERATION = '15';

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    // In the temporary directory: schemathesis keeps its example database in .schemathesis/ of the working directory.
    const child = spawn(cmd, args, { env: { ...process.env, NO_COLOR: '1' }, cwd: os.tmpdir() });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: -1, output: `${output}\n${e.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('fuzzing the OpenAPI document (schemathesis)', () => {
  let server: ChildProcess | undefined;
  let drop: (() => Promise<void>) | undefined;
  let baseUrl = '';
  let key = '';

  beforeAll(async () => {
    const made = await makeTestConfig('postgres');
    drop = made.drop;
    // The rate limit of the expensive routes is lifted so the fuzzer reaches their logic, not the 429.
    const env = {
      PLUM_HOME: made.config.home,
      PLUM_DATABASE_URL: made.config.PLUM_DATABASE_URL!,
      PLUM_LOG_LEVEL: 'error',
      PLUM_API_EXPENSIVE_PER_MINUTE: '100000',
    };
    const created = await runPlum(['apikey', 'create', '--role', 'admin', '--name', 'fuzz'], env);
    expect(created.code, created.stderr).toBe(0);
    key = created.stdout.trim();
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    server = spawn(process.execPath, [path.join(ROOT, 'bin', 'plum.mjs'), 'serve', '--host', '127.0.0.1', '--port', String(port), '--no-scheduler'], {
      env: { ...process.env, ...env },
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    server.stderr!.on('data', (d) => (stderr += d));
    for (let i = 0; ; i++) {
      const ok = await fetch(`${baseUrl}/v1/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (i > 120 || server.exitCode !== null) throw new Error(`plum serve did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }, 120_000);

  afterAll(async () => {
    if (server && server.exitCode === null) {
      const closed = new Promise((r) => server!.once('close', r));
      server.kill('SIGTERM');
      await closed;
    }
    await drop?.();
  }, 60_000);

  it('no generated request, valid or not, gets a 5xx', async () => {
    const { code, output } = await run(
      SCHEMATHESIS,
      [
        'run',
        `${baseUrl}/openapi.json`,
        '-H',
        `Authorization: Bearer ${key}`,
        '--checks',
        'not_a_server_error',
        '--max-examples',
        EXAMPLES_PER_OPERATION,
        '--seed',
        '1',
        '--phases',
        'examples,coverage,fuzzing',
        '--exclude-path',
        '/v1/investigations',
        '--exclude-path',
        '/v1/events',
        '--request-timeout',
        '20',
        '--generation-allow-x00',
        'true',
        '--no-color',
      ],
      480_000,
    );
    // The summary names every operation that failed and the request that did it.
    expect(code, output.slice(-6000)).toBe(0);
    expect(output).toMatch(/Test cases:\s+\d+ generated, \d+ passed/);
    expect(output).not.toMatch(/Server error|not_a_server_error/i);
  }, 540_000);
});
