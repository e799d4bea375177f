import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';

/**
 * Follows a child process's peak resident memory (VmHWM in /proc, in bytes)
 * until it exits. Linux only, like the machines the tests run on.
 */
export function followPeakRss(child: ChildProcess): { peak(): number; stop(): void } {
  let peak = 0;
  const read = () => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]) * 1024);
    } catch {
      // exited
    }
  };
  const timer = setInterval(read, 50);
  child.once('exit', () => clearInterval(timer));
  read();
  return { peak: () => peak, stop: () => clearInterval(timer) };
}
