import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptySearchFields, type SearchFields } from '../core/fields.ts';
import { loadConfig } from '../core/config.ts';
import { ingestScanResult, type IngestPort } from '../store/ingest.ts';
import { applyRules, importRulesDir, listStoredRules, openRuleContext, removeRule } from '../store/rules/index.ts';
import { host, scan } from './helpers/scan.ts';
import { openTestStore, storeKinds, type TestStore } from './helpers/db.ts';

/*
 * A rule stops tagging once it is gone: its file removed from the rules
 * directory (the next sync deletes it and apply drops its tags), or deleted
 * with `plum rules rm` (removeRule).
 */

const rule = (name: string, query: string, tag: string) => `name: ${name}\ndescription: test rule\nquery: ${query}\ntags: ['${tag}']\nversion: '2026-12-01'\n`;

function svc(portNo: number, f: Partial<SearchFields>): IngestPort {
  const fields = { ...emptySearchFields(), port: [String(portNo)], protocol: ['tcp'], state: ['open'], ...f };
  return { protocol: 'tcp', port: portNo, state: 'open', hsh256: `h${portNo}-${Object.values(f).flat().join('|')}`, fpVersion: 1, fields, doc: { f } };
}

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'plum-rules-rm-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe.each(storeKinds)('removed rules stop tagging (%s)', (kind) => {
  let t: TestStore;
  beforeAll(async () => {
    t = await openTestStore(kind);
  });
  afterAll(async () => {
    await t?.cleanup();
  });

  const tagsOf = async (port: number) => (await t.store.query<{ tags: string[] }>(`select tags from port_observations where port = $1`, [port]))[0]!.tags;

  it('a rule whose file was deleted from the rules directory is removed at the next apply, with its tags', async () => {
    const dir = path.join(tmp, `${kind}-dir`);
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, 'keep.yaml'), rule('keep-me', 'port:8081', 'test:keep'));
    await fs.writeFile(path.join(dir, 'gone.yaml'), rule('gone-soon', 'port:8081', 'test:gone'));
    // The shipped rules are stored first (another directory).
    await openRuleContext(t.store, loadConfig({ PLUM_HOME: t.config.home }), { sync: true });
    const config = loadConfig({ PLUM_HOME: t.config.home, PLUM_RULES_DIR: dir });
    await ingestScanResult(t.store, { source: 'test', scan: scan([host('127.0.0.21', '2026-12-01T00:00:00Z', [svc(8081, { http_title: ['x'] })])], '8081') });
    let rc = await openRuleContext(t.store, config, { sync: true });
    await applyRules(t.store, rc.set, rc.score);
    expect(await tagsOf(8081)).toEqual(expect.arrayContaining(['test:keep', 'test:gone']));

    await fs.rm(path.join(dir, 'gone.yaml'));
    rc = await openRuleContext(t.store, config, { sync: true });
    expect(rc.synced!.removed).toEqual(['gone-soon']);
    const summary = await applyRules(t.store, rc.set, rc.score);
    expect(summary.removed).toEqual(['gone-soon']);
    expect(await tagsOf(8081)).toContain('test:keep');
    expect(await tagsOf(8081)).not.toContain('test:gone');
    // The shipped rules (another directory) are untouched by this directory's sync.
    expect((await listStoredRules(t.store)).length).toBeGreaterThan(50);
  });

  it('plum rules rm deletes an imported rule; a rule still in the rules directory is refused', async () => {
    const imported = path.join(tmp, `${kind}-import`);
    await fs.mkdir(imported, { recursive: true });
    await fs.writeFile(path.join(imported, 'x.yaml'), rule('imported-x', 'port:8082', 'test:imported'));
    await importRulesDir(t.store, imported);
    await ingestScanResult(t.store, { source: 'test', scan: scan([host('127.0.0.22', '2026-12-01T00:00:00Z', [svc(8082, { http_title: ['y'] })])], '8082') });
    const config = loadConfig({ PLUM_HOME: t.config.home });
    let rc = await openRuleContext(t.store, config, { sync: true });
    await applyRules(t.store, rc.set, rc.score);
    expect(await tagsOf(8082)).toContain('test:imported');

    await removeRule(t.store, 'imported-x');
    rc = await openRuleContext(t.store, config, { sync: true });
    expect(rc.synced!.imported).toEqual([]);
    expect((await applyRules(t.store, rc.set, rc.score)).removed).toEqual(['imported-x']);
    expect(await tagsOf(8082)).not.toContain('test:imported');

    await expect(removeRule(t.store, 'imported-x')).rejects.toThrow('no rule named imported-x');
    await expect(removeRule(t.store, 'db-mongodb')).rejects.toThrow(/rule db-mongodb comes from .*db-mongodb\.yaml: it would come back at the next sync/);
  });
});
