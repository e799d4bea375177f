import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

/**
 * The layering and workflow-determinism rules of eslint.config.js, on
 * offending code: each must report what it forbids, and accept what is allowed.
 * (`npm test` runs ESLint over the whole tree, so the project itself is covered.)
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const eslint = new ESLint({
  cwd: root,
  // Type-aware rules need files on disk; these snippets are linted as text.
  overrideConfig: { languageOptions: { parserOptions: { projectService: false } }, rules: { '@typescript-eslint/no-floating-promises': 'off' } },
});

async function problems(file: string, lines: string[]): Promise<string[]> {
  const [result] = await eslint.lintText(lines.join('\n'), { filePath: path.join(root, file) });
  // A built-in is both a named path and outside the allowed packages: one line per rule and line.
  return [...new Set(result!.messages.map((m) => `${m.line}: ${m.ruleId}`))];
}

describe('eslint.config.js', () => {
  it('accepts type-only imports, workflow-safe packages and local modules in workflows/', async () => {
    expect(
      await problems('workflows/ok.ts', [
        "import { proxyActivities } from '@temporalio/workflow';",
        "import type { Store } from '../store/index.ts';",
        "import { type ScanActivities } from '../activities/index.ts';",
        "import { helper } from './logic/helper.ts';",
        'const d = new Date(0);',
        'export const x = { d, helper, proxyActivities };',
        'export type Y = Store | ScanActivities;',
      ]),
    ).toEqual([]);
  });

  it('reports each forbidden import and non-deterministic call in workflows/ with its line', async () => {
    expect(
      await problems('workflows/bad.ts', [
        "import fs from 'node:fs';",
        "import { createHash } from 'crypto';",
        "import { openStore } from '../store/index.ts';",
        "import * as acts from '../activities/index.ts';",
        "import pino from 'pino';",
        "import '../core/log.ts';",
        'export async function w() {',
        '  const t = Date.now();',
        '  const r = Math.random();',
        '  const n = new Date();',
        '  setTimeout(() => {}, 1);',
        '  const e = process.env.X;',
        "  await import('./x.ts');",
        '  return [fs, createHash, openStore, acts, pino, t, r, n, e];',
        '}',
      ]),
    ).toEqual([
      '1: @typescript-eslint/no-restricted-imports',
      '2: @typescript-eslint/no-restricted-imports',
      '3: @typescript-eslint/no-restricted-imports',
      '4: @typescript-eslint/no-restricted-imports',
      '5: @typescript-eslint/no-restricted-imports',
      '6: @typescript-eslint/no-restricted-imports',
      '6: no-restricted-syntax',
      '8: no-restricted-syntax',
      '9: no-restricted-syntax',
      '10: no-restricted-syntax',
      '11: no-restricted-globals',
      '12: no-restricted-globals',
      '13: no-restricted-syntax',
    ]);
  });

  it('keeps core/ free of other layers and of I/O, store/ on core/ only, and test/ out of product code', async () => {
    expect(
      await problems('core/x.ts', [
        "import { openStore } from '../store/index.ts';",
        "import fs from 'node:fs';",
        "import { spawn } from 'node:child_process';",
        "import { perimeter } from '../test/perimeter/index.ts';",
        "import { parseQuery } from './query/parse.ts';",
        'export const x = [openStore, fs, spawn, perimeter, parseQuery];',
      ]),
    ).toEqual(['1: no-restricted-imports', '2: no-restricted-imports', '3: no-restricted-imports', '4: no-restricted-imports']);
    expect(
      await problems('store/x.ts', [
        "import { runEmbedded } from '../workers/embedded.ts';",
        "import { loadConfig } from '../core/config.ts';",
        'export const x = [runEmbedded, loadConfig];',
      ]),
    ).toEqual(['1: no-restricted-imports']);
    expect(
      await problems('cli/commands/x.ts', ["import { startPerimeter } from '../../test/perimeter/index.ts';", 'export const x = startPerimeter;']),
    ).toEqual(['1: no-restricted-imports']);
  });

  it("keeps SQL in store/: a store handle's query, SQL text, drizzle's sql and query builder are refused elsewhere", async () => {
    // `session` is a StoreSession handle (store/index.ts), one of the names the rule knows a store by.
    const lines = [
      "import { sql } from 'drizzle-orm';",
      "import type { SQL } from 'drizzle-orm';",
      'export async function f(store: any, o: any, session: any, other: any, c: any, fragment: SQL) {',
      "  await store.query('select 1');",
      "  await o.store.query('x');",
      '  await other.query(`update jobs set status = ${1} where id = $1`);',
      "  await other.unsafe('delete from jobs');",
      '  await store.db.select();',
      '  const q = sql`select 1`;',
      "  const p = c.req.query('q');",
      '  await session.transaction(async () => undefined);',
      '  return [q, p, fragment];',
      '}',
    ];
    const refused = [
      '1: no-restricted-syntax',
      '4: no-restricted-syntax',
      '5: no-restricted-syntax',
      '6: no-restricted-syntax',
      '7: no-restricted-syntax',
      '8: no-restricted-syntax',
      '9: no-restricted-syntax',
    ];
    expect(await problems('api/routes/x.ts', lines)).toEqual(refused);
    expect(await problems('cli/commands/x.ts', lines)).toEqual(refused);
    expect(await problems('store/repos/x.ts', lines)).toEqual([]);
  });

  it('lets api/, web/ and mcp/ see workers/ only as types', async () => {
    for (const file of ['api/routes/x.ts', 'web/pages/x.ts', 'mcp/x.ts']) {
      expect(
        await problems(file, [
          "import { runEmbedded } from '../workers/embedded.ts';",
          "import { startWebhookDispatcher } from '../../workers/webhook-dispatcher.ts';",
          "import type { LegacyBridgeHooks } from '../workers/legacy-bridge.ts';",
          'export const x = [runEmbedded, startWebhookDispatcher];',
          'export type Y = LegacyBridgeHooks;',
        ]),
        file,
      ).toEqual(['1: @typescript-eslint/no-restricted-imports', '2: @typescript-eslint/no-restricted-imports']);
    }
  });
});
