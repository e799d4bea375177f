import fs from 'node:fs';
import path from 'node:path';

/*
 * How the user starts plum, for the commands we print: `plum` when it is on
 * their PATH (installed globally or linked), `npx plum` otherwise (a clone or a
 * project dependency, where a bare `plum` is "command not found").
 */

/** True when an executable named `name` is in one of PATH's directories. */
export function onPath(name: string, searchPath: string | undefined): boolean {
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      fs.accessSync(path.join(dir, name), fs.constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

/** The command prefix to print in hints: `plum` or `npx plum`. */
export function plumCommand(searchPath: string | undefined = process.env.PATH): string {
  return onPath('plum', searchPath) ? 'plum' : 'npx plum';
}
