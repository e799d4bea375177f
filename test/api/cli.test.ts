import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { makeTestConfig, storeKinds } from '../helpers/db.ts';

const BIN = fileURLToPath(new URL('../../bin/plum.mjs', import.meta.url));

function plum(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe.each(storeKinds)('plum serve / apikey / agent-token CLI (%s)', (kind) => {
  it('apikey create prints the key alone; serve accepts it; other commands work while serve runs; SIGTERM stops it', async () => {
    const { config, drop } = await makeTestConfig(kind);
    const env: Record<string, string> = { PLUM_HOME: config.home, ...(config.PLUM_DATABASE_URL ? { PLUM_DATABASE_URL: config.PLUM_DATABASE_URL } : {}) };
    try {
      const created = await plum(['apikey', 'create', '--role', 'admin', '--name', 'ci'], env);
      expect(created.code, created.stderr).toBe(0);
      expect(created.stdout).toMatch(/^plum_k_[A-Za-z0-9_-]{43}\n$/);
      const key = created.stdout.trim();

      const bad = await plum(['apikey', 'create', '--role', 'root'], env);
      expect(bad.code).toBe(2);
      expect(bad.stdout).toBe('');
      expect(bad.stderr).toMatch(/argument 'root' is invalid/);

      const serve = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--host', '127.0.0.1'], { env: { ...process.env, ...env } });
      let err = '';
      const url = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 60_000);
        serve.stderr.on('data', (d) => {
          err += d;
          const m = /API listening on (http:\/\/\S+) /.exec(err);
          if (m) {
            clearTimeout(t);
            resolve(m[1]!);
          }
        });
      });
      try {
        expect(err).toContain('embedded runner');
        const res = await fetch(`${url}/v1/apikeys`, { headers: { authorization: `Bearer ${key}` } });
        expect(res.status).toBe(200);
        // A second process while serve holds the database (PGlite: through the holder's socket).
        const tok = await plum(['agent-token', 'create', '--agent', 'edge-7'], env);
        expect(tok.code, tok.stderr).toBe(0);
        expect(tok.stdout).toMatch(/^plum_a_[A-Za-z0-9_-]{43}\n$/);
        const hb = await fetch(`${url}/v1/agent/heartbeat`, {
          method: 'POST',
          headers: { authorization: `Bearer ${tok.stdout.trim()}`, 'content-type': 'application/json' },
          body: '{"version":"t"}',
        });
        expect(hb.status).toBe(200);
        const list = await plum(['apikey', 'list', '--format', 'json'], env);
        expect(list.code, list.stderr).toBe(0);
        const keys = JSON.parse(list.stdout) as { name: string; role: string }[];
        expect(keys.map((k) => [k.name, k.role])).toEqual([['ci', 'admin']]);
        expect(list.stdout).not.toContain(key);
      } finally {
        const exited = new Promise<number | null>((resolve) => serve.on('close', resolve));
        serve.kill('SIGTERM');
        expect(await exited).toBe(0);
      }
    } finally {
      await drop();
    }
  }, 180_000);

  it('serve refuses a bad port with a one-line usage error', async () => {
    const { config, drop } = await makeTestConfig(kind);
    try {
      const r = await plum(['serve', '--port', 'http'], {
        PLUM_HOME: config.home,
        ...(config.PLUM_DATABASE_URL ? { PLUM_DATABASE_URL: config.PLUM_DATABASE_URL } : {}),
      });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe('plum: invalid --port "http" (use a port number between 0 and 65535)\n');
    } finally {
      await drop();
    }
  }, 180_000);
});
