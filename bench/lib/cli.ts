import { pathToFileURL } from 'node:url';
// @ts-expect-error: plain JavaScript module of the entry point, without types
import { bundleIsFresh } from '../../bin/bundle.mjs';

/** A bench's usage error: the message, the usage line, exit 2. */
export function usageExit(message: string, usage: string): never {
  process.stderr.write(`${message}\n${usage}\n`);
  process.exit(2);
}

/**
 * The bench's flags, parsed strictly by `parse` (a mistyped flag must not start a long run with the
 * defaults); `--help`, which `parse` must declare, prints the usage line and exits.
 */
export function benchArgs<V extends { help?: boolean | undefined }>(usage: string, parse: () => V): V {
  let values: V;
  try {
    values = parse();
  } catch (e) {
    return usageExit((e as Error).message, usage);
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return values;
}

/** Benches that time the `plum` command run it as users do: from the bundle, which must match the sources. */
export function requireFreshBundle(root: string): void {
  if (!(bundleIsFresh as (r: URL) => boolean)(pathToFileURL(root))) {
    process.stderr.write('dist/ is missing or older than the sources: run `npm run build` first (the bench times the bundled plum users run)\n');
    process.exit(2);
  }
}
