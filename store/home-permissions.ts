import fs from 'node:fs';
import path from 'node:path';

/**
 * $PLUM_HOME holds the embedded database, the raw nmap XML and the lock and
 * socket through which the database is reached: only its owner may read it.
 * Directories 0700, files 0600.
 */
export const HOME_DIR_MODE = 0o700;
export const HOME_FILE_MODE = 0o600;

/** Creates the home (0700) if needed, and takes group and other access away from everything already in it. */
export function secureHome(home: string): void {
  fs.mkdirSync(home, { recursive: true, mode: HOME_DIR_MODE });
  const st = fs.statSync(home);
  // A shared sticky directory (such as /tmp given as PLUM_HOME) is not ours to close: only what Plum put in it.
  if ((st.mode & 0o1000) === 0) restrict(home, st);
  for (const entry of fs.readdirSync(home, { withFileTypes: true })) walk(path.join(home, entry.name));
}

function restrict(file: string, st: fs.Stats): void {
  const want = st.isDirectory() ? HOME_DIR_MODE : HOME_FILE_MODE;
  if ((st.mode & 0o7777) !== want && !st.isSymbolicLink()) fs.chmodSync(file, want);
}

function walk(file: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch {
    return; // removed meanwhile
  }
  if (st.isSymbolicLink()) return;
  restrict(file, st);
  if (st.isDirectory()) for (const entry of fs.readdirSync(file)) walk(path.join(file, entry));
}

/**
 * Runs `fn` with umask 077, so files it creates (PGlite writes its catalog
 * with mode 0666) are the owner's alone. Where the umask cannot be changed
 * (worker threads), `fn` runs as is and the next secureHome corrects the modes.
 */
export async function withPrivateUmask<T>(fn: () => Promise<T>): Promise<T> {
  let previous: number | undefined;
  try {
    previous = process.umask(0o077);
  } catch {
    previous = undefined;
  }
  try {
    return await fn();
  } finally {
    if (previous !== undefined) process.umask(previous);
  }
}
