import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runPlum } from './helpers/cli.ts';
import { makeTestConfig, storeKinds } from './helpers/db.ts';
import { freePort } from './helpers/net.ts';

/*
 * The long-running scheduler loop over real time, as a user runs it: `plum
 * scheduler` and the scheduler inside `plum serve`. The profile and the webhook
 * are added after the loop started, so only a later tick (not the first one)
 * can start the run and deliver its events. Scans only 127.0.0.1.
 */

async function receiver() {
  const bodies: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      bodies.push(body);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    bodies,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A listening TCP service on loopback for the profile to find. */
async function service() {
  const server = net.createServer((s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

function waitFor(what: string, check: () => boolean, log: () => string, ms = 120_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      if (check()) {
        clearInterval(poll);
        resolve();
      } else if (Date.now() - started > ms) {
        clearInterval(poll);
        reject(new Error(`timed out waiting for ${what}:\n${log()}`));
      }
    }, 200);
  });
}

const modes = storeKinds.flatMap((kind) => [
  { kind, command: 'scheduler' as const },
  { kind, command: 'serve' as const },
]);

describe.each(modes)('the scheduler loop of plum $command starts a due profile and delivers webhooks ($kind)', ({ kind, command }) => {
  it('a profile and a webhook added while it runs: a later tick scans and delivers', async () => {
    const { config, drop } = await makeTestConfig(kind);
    const env: Record<string, string> = {
      PLUM_HOME: config.home,
      PLUM_LOG_LEVEL: 'debug',
      // The receiver listens on loopback, which webhook destinations refuse unless allowed.
      PLUM_WEBHOOK_ALLOW_PRIVATE: '1',
      ...(config.PLUM_DATABASE_URL ? { PLUM_DATABASE_URL: config.PLUM_DATABASE_URL } : {}),
    };
    const rx = await receiver();
    const svc = await service();
    let child: ChildProcess | undefined;
    let err = '';
    try {
      for (const args of [['init'], ['profile', 'disable', 'banner'], ['profile', 'disable', 'web'], ['target', 'add', '127.0.0.1/32']]) {
        const r = await runPlum(args, env);
        expect(r.code, r.stderr).toBe(0);
      }
      const args = command === 'scheduler' ? ['scheduler', '--interval', '5'] : ['serve', '--port', String(await freePort()), '--scheduler-interval', '2'];
      child = spawn(process.execPath, [path.join(ROOT, 'bin', 'plum.mjs'), ...args], { env: { ...process.env, ...env }, cwd: ROOT });
      child.stderr!.on('data', (d) => (err += d));
      child.stdout!.on('data', (d) => (err += d));
      const ready = command === 'scheduler' ? 'scheduler running' : 'API listening';
      await waitFor(
        ready,
        () => err.includes(ready),
        () => err,
        90_000,
      );
      // The first tick has run (it comes before the message): everything below needs a later one.
      await waitFor(
        'a first tick',
        () => err.includes('"msg":"scheduler tick"'),
        () => err,
        30_000,
      );

      const hook = await runPlum(['webhook', 'add', 'loop', '--url', rx.url, '--query', `port:${svc.port}`], env);
      expect(hook.code, hook.stderr).toBe(0);
      const profile = await runPlum(['profile', 'add', 'loop', '--ports', String(svc.port), '--every', '5m', '--nmap-args', '-T4 --max-retries 1'], env);
      expect(profile.code, profile.stderr).toBe(0);

      await waitFor(
        'the webhook delivery of the scheduled run',
        () => rx.bodies.length > 0,
        () => err,
      );
      const body = JSON.parse(rx.bodies[0]!) as { events: { type: string; ip: string; port: number }[] };
      expect(body.events.map((e) => `${e.type} ${e.ip}:${e.port}`)).toEqual([`appeared 127.0.0.1:${svc.port}`]);
      expect(err).toMatch(/"profile":"loop","action":"started"/);

      const exited = new Promise<number | null>((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const runs = await runPlum(['runs', '--format', 'json'], env);
      expect(runs.code, runs.stderr).toBe(0);
      const list = JSON.parse(runs.stdout) as { profile: string | null; status: string; requested_by?: string }[];
      expect(list.filter((r) => r.profile === 'loop').map((r) => r.status)).toEqual(['succeeded']);
    } finally {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      await rx.close();
      await svc.close();
      await drop();
    }
  }, 240_000);
});
