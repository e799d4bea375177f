import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './cli.ts';

/*
 * Long-running `plum` processes (serve, worker, agent) for integration tests:
 * the real CLI in its own process group, so a test can stop it, SIGKILL it
 * with everything it started (a machine dying), and read its output.
 */

export interface PlumProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  output(): string;
  /** Resolves with the first match of `re` in the output (stdout and stderr). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM (graceful), then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL of the whole process group at once: no cleanup, like a host losing power. */
  kill(): Promise<void>;
  exited(): boolean;
}

export function startPlum(name: string, args: string[], env: Record<string, string>): PlumProcess {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'plum.mjs'), ...args], {
    env: { ...process.env, ...env },
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out = (out + d.toString()).slice(-200_000);
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // Already gone.
    }
  };
  return {
    name,
    child,
    pid: child.pid!,
    output: () => out,
    exited,
    waitFor(re, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(re);
          if (m) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(m);
          } else if (exited()) {
            listeners.delete(check);
            clearTimeout(timer);
            reject(new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before printing ${re}: ${out.slice(-3000)}`));
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`${name} did not print ${re} within ${timeoutMs} ms: ${out.slice(-3000)}`));
        }, timeoutMs);
        listeners.add(check);
        child.once('exit', check);
        check();
      });
    },
    async stop(graceMs = 10_000) {
      if (exited()) return;
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
    async kill() {
      if (exited()) return;
      signal('SIGKILL');
      await exit;
    },
  };
}
