import fs from 'node:fs';
import os from 'node:os';
import type { Logger } from '../core/log.ts';
import type { Store } from '../store/index.ts';
import { markInterrupted, ownedActiveRuns, type RunOwner } from '../store/repos/run-owners.ts';

/*
 * The process side of run ownership (store/repos/run-owners.ts): who this
 * process is, whether a recorded owner still runs, and the recovery of runs
 * whose process is gone (killed, crashed, out of memory, or a wrapper that
 * ended it before it could record the end).
 */

/** Start time of a process from /proc (Linux), in ms since the epoch; undefined elsewhere or when it is gone. */
function procStartMs(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime, clock ticks since boot) comes after the parenthesised command name.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    const btime = Number(/^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'))?.[1]);
    if (!Number.isFinite(ticks) || !Number.isFinite(btime)) return undefined;
    // USER_HZ is 100 on every Linux Node supports.
    return btime * 1000 + ticks * 10;
  } catch {
    return undefined;
  }
}

let self: RunOwner | undefined;

/** This process as a run owner. */
export function thisProcess(): RunOwner {
  self ??= {
    host: os.hostname(),
    pid: process.pid,
    startedAt: new Date(procStartMs(process.pid) ?? Date.now() - process.uptime() * 1000).toISOString(),
  };
  return self;
}

/** 'gone' only when certain: same host and the pid is not running, or runs a process started at another time. */
export function ownerState(owner: RunOwner): 'alive' | 'gone' | 'elsewhere' {
  if (owner.host !== os.hostname()) return 'elsewhere';
  if (owner.pid === process.pid) return 'alive';
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return 'gone';
    // EPERM: a process of another user has the pid; fall through to its start time.
  }
  const started = procStartMs(owner.pid);
  if (started === undefined) return 'alive';
  // /proc counts in clock ticks and btime in whole seconds: allow a few seconds.
  return Math.abs(started - new Date(owner.startedAt).getTime()) > 5000 ? 'gone' : 'alive';
}

/** Marks every active run of this host whose process is gone as interrupted; returns their ids. */
export async function recoverInterruptedRuns(store: Store, log: Logger, now = new Date()): Promise<string[]> {
  const recovered: string[] = [];
  for (const { id, owner } of await ownedActiveRuns(store)) {
    if (!owner || ownerState(owner) !== 'gone') continue;
    const reason = `interrupted: the process that ran it (pid ${owner.pid} on ${owner.host}, started ${owner.startedAt}) is gone`;
    if (await markInterrupted(store, id, reason, now)) {
      recovered.push(id);
      log.warn({ runId: id, pid: owner.pid }, 'run marked as interrupted: its process is gone');
    }
  }
  return recovered;
}
