import fs from 'node:fs';
import path from 'node:path';
import { PlumError } from '../core/errors.ts';

/**
 * PGlite serves one process. $PLUM_HOME/plum.lock names the process holding
 * the embedded database; long-running commands (serve, scheduler) also share
 * it over a unix socket named in the lock, through which other plum commands
 * reach the database. Without a socket, a second process stops with a clear
 * message instead of opening (and corrupting) the data.
 */
export interface LockInfo {
  pid: number;
  startedAt: string;
  command?: string;
  /** Unix socket through which the holder shares the database. */
  socket?: string;
}

export type HomeLock =
  | { kind: 'held'; path: string; release(): void; advertiseSocket(socketPath: string | undefined): void }
  | { kind: 'socket'; socketPath: string; holderPid: number; release(): void };

export const lockPath = (home: string) => path.join(home, 'plum.lock');
export const socketPathFor = (home: string) => path.join(home, 'plum.sock');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readLock(home: string): LockInfo | undefined {
  try {
    return JSON.parse(fs.readFileSync(lockPath(home), 'utf8')) as LockInfo;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const guardPath = (home: string) => path.join(home, 'plum.lock.takeover');

/**
 * Removes the lock file if, while this process holds the takeover guard, it
 * still names a dead process. The guard is created exclusively; one left by a
 * process that died while holding it (a few system calls long) is removed
 * once its owner is gone.
 */
function removeStaleLock(home: string): void {
  const guard = guardPath(home);
  try {
    fs.writeFileSync(guard, String(process.pid), { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    let owner = NaN;
    try {
      owner = Number(fs.readFileSync(guard, 'utf8'));
    } catch {
      return; // released meanwhile
    }
    if (Number.isInteger(owner) && owner > 0 && !alive(owner)) fs.rmSync(guard, { force: true });
    return;
  }
  try {
    const holder = readLock(home);
    if (holder && holder.pid !== process.pid && !alive(holder.pid)) fs.rmSync(lockPath(home), { force: true });
  } finally {
    fs.rmSync(guard, { force: true });
  }
}

export async function acquireHomeLock(home: string, opts: { waitMs: number; useSocket: boolean }): Promise<HomeLock> {
  const file = lockPath(home);
  const deadline = Date.now() + opts.waitMs;
  for (;;) {
    const info: LockInfo = { pid: process.pid, startedAt: new Date().toISOString(), command: process.argv.slice(2, 4).join(' ') };
    try {
      fs.writeFileSync(file, JSON.stringify(info), { flag: 'wx', mode: 0o600 });
      let current = info;
      return {
        kind: 'held',
        path: file,
        advertiseSocket(socketPath) {
          current = { ...current, socket: socketPath };
          fs.writeFileSync(file, JSON.stringify(current), { mode: 0o600 });
        },
        release() {
          // Only remove our own lock (never one a successor took after us).
          if (readLock(home)?.pid === process.pid) fs.rmSync(file, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new PlumError('database', `cannot create ${file}: ${(e as Error).message}`, { hint: 'check that PLUM_HOME is writable' });
      }
    }
    const holder = readLock(home);
    if (!holder) {
      // Being written or removed right now: look again.
      await sleep(20);
      continue;
    }
    if (holder.pid !== process.pid && !alive(holder.pid)) {
      // A crashed holder: its lock is stale. Only one process at a time may remove it (the takeover guard),
      // and it looks again once it holds the guard: two processes that both saw the stale lock would
      // otherwise each remove "it", the second removing the lock the first had just taken.
      removeStaleLock(home);
      await sleep(1 + Math.random() * 5);
      continue;
    }
    if (opts.useSocket && holder.socket && holder.pid !== process.pid && fs.existsSync(holder.socket)) {
      return { kind: 'socket', socketPath: holder.socket, holderPid: holder.pid, release() {} };
    }
    if (Date.now() >= deadline) {
      const who = holder.pid === process.pid ? 'this process' : `plum process ${holder.pid}${holder.command ? ` (plum ${holder.command})` : ''}`;
      throw new PlumError('locked', `the embedded database in ${home} is in use by ${who}`, {
        hint: 'wait for it to finish or stop it, or use a PostgreSQL server with PLUM_DATABASE_URL',
        details: { pid: holder.pid },
      });
    }
    await sleep(100);
  }
}
