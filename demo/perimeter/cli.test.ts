import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../test/helpers/cli.ts';

/** The loopback test perimeter's command line (`npx tsx demo/perimeter/cli.ts`) explains itself. */
describe('demo/perimeter/cli.ts', () => {
  const run = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'demo', 'perimeter', 'cli.ts'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });

  it('--help prints its usage and exits 0', () => {
    const r = run(['--help']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Usage: npx tsx demo\/perimeter\/cli\.ts \[options\]/);
    expect(r.stdout).toContain('--prefix <a.b.c>');
    expect(r.stderr).toBe('');
  });

  it('an unknown option is one line and the usage, exit 2, no stack trace', () => {
    const r = run(['--bogus']);
    expect(r.status).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe("perimeter: Unknown option '--bogus'");
    expect(r.stderr).toContain('Usage: npx tsx demo/perimeter/cli.ts');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
