/**
 * One of several processes racing for stale home locks (test/store-lock.test.ts).
 * For trial i it waits for <dir>/go-i, tries the lock of <dir>/home-i without
 * waiting, writes <dir>/res-i-<pid> ("held" or "locked"), and a holder keeps the
 * lock until <dir>/done-i exists.
 */
import fs from 'node:fs';
import path from 'node:path';
import { acquireHomeLock } from '../../store/lock.ts';

const [dir, trialsArg] = process.argv.slice(2);
const trials = Number(trialsArg);
/** Written whole (temporary file, then rename), so the test never reads it half-written. */
function report(i: number, result: string): void {
  const file = path.join(dir!, `res-${i}-${process.pid}`);
  fs.writeFileSync(`${file}.tmp`, result);
  fs.renameSync(`${file}.tmp`, file);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (let i = 0; i < trials; i++) {
  while (!fs.existsSync(path.join(dir!, `go-${i}`))) await sleep(1);
  let result = 'locked';
  try {
    const lock = await acquireHomeLock(path.join(dir!, `home-${i}`), { waitMs: 0, useSocket: false });
    result = 'held';
    report(i, result);
    // Hold it until every racer has answered, so a late one cannot take it after a release.
    while (!fs.existsSync(path.join(dir!, `done-${i}`))) await sleep(1);
    lock.release();
    continue;
  } catch (e) {
    if ((e as { code?: string }).code !== 'locked') result = `error ${(e as Error).message}`;
  }
  report(i, result);
}
