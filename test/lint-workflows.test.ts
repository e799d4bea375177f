import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM script without type declarations
import { lintWorkflows } from './lint-workflows.mjs';

type Problem = { file: string; line: number; message: string };

describe('lint-workflows', () => {
  it('finds nothing wrong in the project\'s workflows/', () => {
    const problems = lintWorkflows() as Problem[];
    expect(problems).toEqual([]);
  });

  describe('on offending code', () => {
    let root: string;
    let dir: string;
    beforeAll(async () => {
      root = await fs.mkdtemp(path.join(os.tmpdir(), 'plum-lint-'));
      dir = path.join(root, 'workflows');
      await fs.mkdir(path.join(dir, 'logic'), { recursive: true });
      await fs.mkdir(path.join(root, 'store'));
      await fs.writeFile(path.join(dir, 'ok.ts'), [
        "import { proxyActivities } from '@temporalio/workflow';",
        "import type { Store } from '../store/index.ts';",
        "import { type ScanActivities } from '../activities/index.ts';",
        "import { helper } from './logic/helper.ts';",
        'const d = new Date(0);',
        'export const x = { process: 1, d, helper, proxyActivities };',
        'export type Y = Store | ScanActivities;',
      ].join('\n'));
      await fs.writeFile(path.join(dir, 'logic', 'helper.ts'), 'export const helper = 1;\n');
      await fs.writeFile(path.join(dir, 'bad.ts'), [
        "import fs from 'node:fs';",
        "import { createHash } from 'crypto';",
        "import { openStore } from '../store/index.ts';",
        "import * as acts from '../activities/index.ts';",
        "import pino from 'pino';",
        "import '../core/log.ts';",
        'export async function w() {',
        '  const t = Date.now() + Math.random();',
        '  const n = new Date();',
        '  setTimeout(() => {}, 1);',
        '  const e = process.env.X;',
        "  await import('./x.ts');",
        '  return [fs, createHash, openStore, acts, pino, t, n, e];',
        '}',
      ].join('\n'));
    });
    afterAll(async () => {
      await fs.rm(root, { recursive: true, force: true });
    });

    it('reports each forbidden import and global with its line, and accepts type-only imports', () => {
      const problems = lintWorkflows(dir) as Problem[];
      expect(problems.filter((p) => p.file.endsWith('ok.ts'))).toEqual([]);
      const bad = problems.filter((p) => p.file.endsWith('bad.ts')).map((p) => `${p.line}: ${p.message}`);
      expect(bad).toEqual([
        '1: imports the Node built-in "node:fs" (workflows must not touch the system)',
        '2: imports the Node built-in "crypto" (workflows must not touch the system)',
        '3: imports a value from store/index.ts (outside workflows/, only `import type` is allowed)',
        '4: imports a value from activities/index.ts (outside workflows/, only `import type` is allowed)',
        '5: imports a value from the package "pino" (only @temporalio/workflow, @temporalio/common are workflow-safe)',
        '6: imports a value from core/log.ts (outside workflows/, only `import type` is allowed)',
        "8: reads the clock with Date.now() (use the workflow env's now())",
        '8: uses Math.random() (non-deterministic)',
        "9: reads the clock with new Date() (use the workflow env's now())",
        '10: uses the global "setTimeout" (non-deterministic or side-effecting)',
        '11: uses the global "process" (non-deterministic or side-effecting)',
        '12: uses dynamic import() (not allowed in workflows)',
      ]);
    });
  });
});
