import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, type CliResult } from './helpers/cli.ts';
import { startDeployment, type Deployment } from './helpers/distributed.ts';

/*
 * The single-file agent (scripts/build-agent.mjs): built by the project's build, copied alone into an empty
 * directory with no node_modules above it, and run with node against a real deployment on loopback
 * (Temporal dev server, PostgreSQL, plum serve, plum worker): `--check`, then a real nmap job.
 */

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-agent-file-'));
const bare = path.join(tmp, 'bare');
let d: Deployment | undefined;
const children: Array<ReturnType<typeof spawn>> = [];

/** What a bare host has: PATH (node, nmap), a home, and the agent's settings. Nothing of this checkout. */
function bareEnv(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: bare,
    PLUM_AGENT_CACHE: path.join(bare, 'cache'),
    PLUM_TEMPORAL_ADDRESS: d!.temporal.address,
    PLUM_LOG_LEVEL: 'warn',
  };
}

function agentArgs(name: string): string[] {
  return ['--server', d!.apiUrl, '--token-file', d!.tokenFile(name), '--name', name, '--concurrency', '1'];
}

function runAgentFile(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(bare, 'plum-agent.mjs'), ...args], { cwd: bare, env: bareEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

beforeAll(async () => {
  const out = path.join(tmp, 'build');
  const built = await new Promise<CliResult>((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs'), '--agent', '--outdir', out], { cwd: ROOT });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: '', stderr }));
  });
  expect(built.code, built.stderr).toBe(0);
  fs.mkdirSync(bare);
  fs.copyFileSync(path.join(out, 'plum-agent.mjs'), path.join(bare, 'plum-agent.mjs'));
  d = await startDeployment({ agents: ['bare-1'] });
  const ssh = d.perimeter.service('ssh');
  await d.ok(['target', 'add', ssh.ip]);
  await d.ok(['profile', 'add', 'quick', '--ports', String(ssh.port), '--every', '7d']);
}, 300_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGTERM');
  await d?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the single-file agent on a bare host', () => {
  it('is one file, and nothing above its directory provides packages', () => {
    expect(fs.readdirSync(bare)).toEqual(['plum-agent.mjs']);
    for (let dir = bare; ; dir = path.dirname(dir)) {
      expect(fs.existsSync(path.join(dir, 'node_modules')), dir).toBe(false);
      if (path.dirname(dir) === dir) break;
    }
  });

  it('--check passes with only node, nmap and a token', async () => {
    const r = await runAgentFile(['--check', ...agentArgs('bare-1')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/agent check passed: Plum server .*, token, nmap, Temporal/);
  }, 120_000);

  it('a bad token is one line saying what to do', async () => {
    const badToken = path.join(tmp, 'bad.token');
    fs.writeFileSync(badToken, 'plum_a_not_a_token\n', { mode: 0o600 });
    const r = await runAgentFile(['--check', '--server', d!.apiUrl, '--token-file', badToken]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/token/i);
  }, 120_000);

  it('runs a real nmap job of a profile run on Temporal', async () => {
    const agent = spawn(process.execPath, [path.join(bare, 'plum-agent.mjs'), ...agentArgs('bare-1')], {
      cwd: bare,
      env: bareEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    children.push(agent);
    let out = '';
    agent.stderr!.on('data', (c) => (out += c));
    const run = await d!.plum(['run', 'quick', '--temporal', '--format', 'json']);
    expect(run.code, `${run.stderr}\nagent: ${out}`).toBe(0);
    const [job] = await d!.store.query<{ status: string; agent: string }>(
      "select j.status, j.agent from jobs j join runs r on r.id = j.run_id where r.profile_name = 'quick'",
    );
    expect(job).toEqual({ status: 'succeeded', agent: 'bare-1' });
    const [port] = await d!.store.query<{ n: number }>(`select count(*)::int as n from port_observations where port = ${d!.perimeter.service('ssh').port}`);
    expect(port!.n).toBe(1);
    // Temporal's native library (the worker's) was unpacked into the private cache, named by its digest.
    const cached = fs.readdirSync(path.join(bare, 'cache'));
    expect(cached).toHaveLength(1);
    expect(fs.statSync(path.join(bare, 'cache', cached[0]!)).mode & 0o777).toBe(0o700);
    expect(fs.readdirSync(path.join(bare, 'cache', cached[0]!))).toEqual(['index.node']);
    agent.kill('SIGTERM');
  }, 180_000);
});
