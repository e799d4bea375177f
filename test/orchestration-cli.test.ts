import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plumCommand } from '../cli/invocation.ts';
import { startPerimeter, type Perimeter } from '../demo/perimeter/index.ts';

/*
 * The run/investigate/demo commands as a user calls them: the real CLI in a
 * child process, a fresh $PLUM_HOME (embedded PGlite), real nmap on the
 * loopback perimeter.
 */

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../bin/plum.mjs', import.meta.url));

async function plum(home: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], {
      env: { ...process.env, PLUM_HOME: home, PLUM_DATABASE_URL: '' },
      maxBuffer: 16 << 20,
      timeout: 240_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

let perimeter: Perimeter;
let home: string;
beforeAll(async () => {
  perimeter = await startPerimeter();
  home = await fs.mkdtemp(path.join(os.tmpdir(), 'plum-cli-orch-'));
});
afterAll(async () => {
  await perimeter?.close();
  await fs.rm(home, { recursive: true, force: true });
});

describe('plum run / investigate', () => {
  it('refuses bad input before scanning, with one line and a non-zero exit', async () => {
    const unknown = await plum(home, ['run', 'no-such-profile']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toMatch(/^plum: .*no-such-profile/);

    const ports = await plum(home, ['investigate', '127.0.0.1', '--ports', '80,abc']);
    expect(ports.code).not.toBe(0);
    expect(ports.stderr).toMatch(/^plum: .*abc/);

    const missing = await plum(home, ['investigate', '127.0.0.1']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--ports/);

    const scope = await plum(home, ['investigate', '127.251.0.1', '--ports', '22']);
    expect(scope.code).toBe(1);
    expect(scope.stderr).toMatch(/^plum: refused, out of scope: 127\.251\.0\.1/);
    expect(scope.stdout).toBe('');
  }, 120_000);

  it('runs a profile and an investigation with JSON only on stdout', async () => {
    const ssh = perimeter.service('ssh');
    const http = perimeter.service('http');
    expect((await plum(home, ['target', 'add', `${perimeter.prefix}.1-6`])).code).toBe(0);
    expect(
      (
        await plum(home, [
          'profile',
          'add',
          'lo',
          '--ports',
          `${ssh.port},${http.port}`,
          '--scripts',
          'plum-banner',
          '--nmap-args',
          '--script-args plum-banner.timeout=2',
        ])
      ).code,
    ).toBe(0);

    const r = await plum(home, ['run', 'lo', '--format', 'json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      status: string;
      counters: Record<string, number>;
      findings: { ip: string; port: number; event: string; service: string }[];
    };
    expect(doc.status).toBe('succeeded');
    expect(doc.counters).toMatchObject({ jobs: 1, ports: 2, appeared: 2 });
    expect(doc.findings.map((f) => `${f.ip}:${f.port}:${f.event}`).sort()).toEqual(
      [`${http.ip}:${http.port}:appeared`, `${ssh.ip}:${ssh.port}:appeared`].sort(),
    );
    expect(r.stderr).toMatch(/lo: job 1\/1 succeeded/);

    const inv = await plum(home, ['investigate', ssh.ip, '--ports', String(ssh.port), '--scripts', 'plum-banner', '--format', 'json']);
    expect(inv.code).toBe(0);
    const idoc = JSON.parse(inv.stdout) as { kind: string; workflow_id: string; findings: { event: string | null; service: string }[] };
    expect(idoc.kind).toBe('investigation');
    expect(idoc.workflow_id).toMatch(/^investigation:inv_/);
    // Already known from the profile run: found, but not new.
    expect(idoc.findings).toHaveLength(1);
    expect(idoc.findings[0]!.event).toBeNull();
    expect(idoc.findings[0]!.service).toMatch(/OpenSSH/);
  }, 180_000);
});

describe('plum demo', () => {
  it('walks through scan, change, rescan, search, history and host, then prints the next commands', async () => {
    const demoHome = await fs.mkdtemp(path.join(os.tmpdir(), 'plum-demo-'));
    try {
      const r = await plum(demoHome, ['demo']);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('');
      for (const step of [
        '[1] Starting the loopback test perimeter',
        '[3] Running the default "banner" profile',
        '[6] Rescanning',
        '[7] Searching',
        '[8] The change feed',
        "[9] A host's details",
        '[10] Done',
      ]) {
        expect(r.stderr).toContain(step);
      }
      // The web profile after the banner profile sees the same services through other scripts: no change.
      expect(r.stderr).toMatch(/\[4\][^\n]*\n[\s\S]*?profile web run run_\S+ succeeded: [^\n]*\b0 changed[\s\S]*\[5\]/);
      // The rescan saw the changed title (the HTTP and HTTPS sites), and the search finds it.
      expect(r.stderr).toMatch(/\[6\][\s\S]*profile web run run_\S+ succeeded: [^\n]*\b2 changed/);
      expect(r.stderr).toMatch(/\[7\][\s\S]*Under maintenance[\s\S]*\[8\]/);
      // The closing hints say what this user must type (`npx plum` unless plum is on the PATH).
      const cmd = plumCommand(process.env.PATH);
      expect(r.stderr).toContain(`    ${cmd} run banner && ${cmd} run web`);
      expect(r.stderr).toContain(`    ${cmd} search 'port:443' ; ${cmd} history`);
      // Its own database, never the user's.
      await expect(fs.stat(path.join(demoHome, 'demo'))).resolves.toBeTruthy();
    } finally {
      await fs.rm(demoHome, { recursive: true, force: true });
    }
  }, 240_000);
});
