import { jsonEqual } from '../../core/json-equal.ts';
import { PlumError } from '../../core/errors.ts';
import { newId } from '../../core/ids.ts';
import { compileRules } from '../../core/rules/engine.ts';
import { importLegacyRules, validateRule, type ImportProblem } from '../../core/rules/import.ts';
import { BUILTIN_RULES_DIR, loadRuleFiles } from '../../core/rules/load.ts';
import { compareVersions, ruleHash, type Rule, type RuleTestDoc, type Severity } from '../../core/rules/schema.ts';
import type { Store, StoreSession } from '../index.ts';

/*
 * The rules table: reading, merging (import, sync of the rules directory),
 * enabling and removing rules. Evaluation, re-tagging and scores live in
 * store/rules/ (the rules service).
 */

/* ------------------------------------------------------------------ rules table */

interface RuleDbRow {
  name: string;
  description: string | null;
  query: string;
  tags: string[];
  version: string;
  source: string | null;
  enabled: boolean;
  severity: string | null;
  references: string[];
  tests: { match: RuleTestDoc[]; no_match: RuleTestDoc[] } | null;
  hash: string;
}

function rowToRule(r: RuleDbRow): Rule {
  return {
    name: r.name,
    description: r.description ?? '',
    query: r.query,
    tags: r.tags,
    version: r.version,
    severity: (r.severity ?? undefined) as Severity | undefined,
    references: r.references ?? [],
    enabled: r.enabled,
    tests: r.tests ?? undefined,
    source: r.source ?? 'db',
    hash: r.hash || ruleHash(r),
  };
}

export async function listStoredRules(s: StoreSession): Promise<Rule[]> {
  const rows = await s.query<RuleDbRow>(
    `select name, description, query, tags, version, source, enabled, severity, "references", tests, hash from rules order by name`,
  );
  return rows.map(rowToRule);
}

export async function getStoredRule(s: StoreSession, name: string): Promise<Rule | undefined> {
  const rows = await s.query<RuleDbRow>(
    `select name, description, query, tags, version, source, enabled, severity, "references", tests, hash from rules where name = $1`,
    [name],
  );
  return rows[0] ? rowToRule(rows[0]) : undefined;
}

async function writeRules(s: StoreSession, rules: Rule[]): Promise<void> {
  if (rules.length === 0) return;
  const rows = rules.map((r) => ({
    id: newId('rule'),
    name: r.name,
    description: r.description,
    query: r.query,
    tags: r.tags,
    version: r.version,
    source: r.source,
    enabled: r.enabled,
    severity: r.severity ?? null,
    references: r.references,
    tests: r.tests ?? null,
    hash: r.hash,
  }));
  await s.query(
    `insert into rules (id, name, description, query, tags, version, source, enabled, severity, "references", tests, hash)
     select x.id, x.name, x.description, x.query, x.tags, x.version, x.source, x.enabled, x.severity, x."references", x.tests, x.hash
     from jsonb_to_recordset($1::jsonb) as x(id text, name text, description text, query text, tags text[], version text,
       source text, enabled boolean, severity text, "references" text[], tests jsonb, hash text)
     on conflict (name) do update set description = excluded.description, query = excluded.query, tags = excluded.tags,
       version = excluded.version, source = excluded.source, enabled = excluded.enabled, severity = excluded.severity,
       "references" = excluded."references", tests = excluded.tests, hash = excluded.hash, updated_at = now()`,
    [JSON.stringify(rows)],
  );
}

export interface RuleMergeResult {
  imported: string[];
  updated: string[];
  /** Rules of the synced directory whose file is gone: deleted from the table. */
  removed: string[];
  skipped: ImportProblem[];
  invalid: ImportProblem[];
  /** Predecessor rules rewritten to keep their meaning (importRulesDir only). */
  notes?: ImportProblem[];
}

/**
 * Merges rules into the rules table: unknown names are imported, a newer
 * version replaces the stored rule, an older or equal version is skipped
 * (`replaceSameVersion`: an equal version with different content replaces it,
 * for the rules directory a user edits in place). The resulting rule set must
 * compile (no tag cycles); a rule that would close a cycle is reported invalid.
 * Everything is written in one transaction, or nothing.
 */
export async function mergeRules(
  store: Store,
  incoming: Rule[],
  opts: {
    replaceSameVersion?: boolean;
    /** Keep the stored enabled/disabled state of known rules (`plum rules disable` survives a sync). */
    keepEnabled?: boolean;
    fileOf?: (r: Rule) => string;
  } = {},
): Promise<RuleMergeResult> {
  const fileOf = opts.fileOf ?? ((r: Rule) => r.source);
  return store.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', ['plum:rules']);
    const existing = new Map((await listStoredRules(tx)).map((r) => [r.name, r]));
    const result: RuleMergeResult = { imported: [], updated: [], removed: [], skipped: [], invalid: [] };
    let writes: Rule[] = [];
    for (const given of incoming) {
      const old = existing.get(given.name);
      const r =
        old && opts.keepEnabled && old.enabled !== given.enabled
          ? { ...given, enabled: old.enabled, hash: ruleHash({ ...given, enabled: old.enabled }) }
          : given;
      if (!old) {
        writes.push(r);
        continue;
      }
      const cmp = compareVersions(r.version, old.version);
      const sameContent =
        old.hash === r.hash && old.description === r.description && jsonEqual(old.tests ?? null, r.tests ?? null) && old.severity === r.severity;
      if (cmp > 0 || (cmp === 0 && opts.replaceSameVersion && !sameContent)) writes.push(r);
      else {
        result.skipped.push({
          file: fileOf(r),
          reason: cmp === 0 ? `${r.name} version ${r.version} is already stored` : `${r.name}: stored version ${old.version} is newer than ${r.version}`,
        });
      }
    }
    // Refuse rules that would make the stored set uncompilable (tag cycles), one at a time.
    for (;;) {
      const merged = new Map(existing);
      for (const r of writes) merged.set(r.name, r);
      try {
        compileRules([...merged.values()]);
        break;
      } catch (e) {
        const involved = ((e as PlumError).details?.rules as string[] | undefined) ?? [];
        const culprit = writes.find((r) => involved.includes(r.name));
        if (!culprit) throw e;
        result.invalid.push({ file: fileOf(culprit), reason: (e as PlumError).message });
        writes = writes.filter((r) => r !== culprit);
      }
    }
    await writeRules(tx, writes);
    for (const r of writes) (existing.has(r.name) ? result.updated : result.imported).push(r.name);
    return result;
  });
}

/** `plum rules import DIR`: the predecessor's rule files (or Plum's), newest version wins. */
export async function importRulesDir(store: Store, dir: string): Promise<RuleMergeResult> {
  const legacy = await importLegacyRules(dir);
  const rel = new Map(legacy.rules.map((r) => [r, relativeTo(dir, r.source)]));
  const merged = await mergeRules(store, legacy.rules, { fileOf: (r) => rel.get(r) ?? r.source });
  return { ...merged, skipped: [...legacy.superseded, ...merged.skipped], invalid: [...legacy.invalid, ...merged.invalid], notes: legacy.notes };
}

function relativeTo(dir: string, file: string): string {
  const d = dir.endsWith('/') ? dir : `${dir}/`;
  return file.startsWith(d) ? file.slice(d.length) : file;
}

/**
 * Brings the rules directory (PLUM_RULES_DIR or the shipped rules/) into the
 * database: new and edited rules are written, the rest is left alone. The
 * directory is data we ship and the user edits, so an invalid file stops with its name.
 */
export async function syncRulesDir(store: Store, dir = BUILTIN_RULES_DIR): Promise<RuleMergeResult> {
  const rules = await loadRuleFiles(dir);
  for (const r of rules) {
    const why = validateRule(r);
    if (why) throw new PlumError('invalid_input', `${r.source}: ${why}`, { hint: 'fix or remove the rule file' });
  }
  const builtin = dir === BUILTIN_RULES_DIR;
  const shortSource = rules.map((r) => ({ ...r, source: relativeTo(dir, r.source) === r.source ? r.source : `rules/${relativeTo(dir, r.source)}` }));
  const merged = await mergeRules(store, builtin ? shortSource : rules, { replaceSameVersion: true, keepEnabled: true });
  // A rule that came from this directory and whose file was removed stops tagging: delete it
  // (rules imported with `plum rules import` or from another directory are left alone).
  const fromDir = (source: string) => (builtin ? source.startsWith('rules/') : source.startsWith(dir.endsWith('/') ? dir : `${dir}/`));
  const present = new Set(rules.map((r) => r.name));
  const gone = (await listStoredRules(store)).filter((r) => fromDir(r.source) && !present.has(r.name)).map((r) => r.name);
  if (gone.length) {
    await store.query('delete from rules where name = any($1::text[])', [gone]);
    merged.removed.push(...gone);
  }
  return merged;
}

/**
 * `plum rules rm NAME`: deletes a stored rule. A rule still in the rules
 * directory would come back at the next sync, so its file must go first.
 */
export async function removeRule(store: Store, name: string, rulesDir = BUILTIN_RULES_DIR): Promise<void> {
  const rule = await getStoredRule(store, name);
  if (!rule) throw new PlumError('not_found', `no rule named ${name}`, { hint: 'list rules with `plum rules list`' });
  const inDir = (await loadRuleFiles(rulesDir)).find((r) => r.name === name);
  if (inDir) {
    throw new PlumError('conflict', `rule ${name} comes from ${inDir.source}: it would come back at the next sync`, {
      hint: `delete that file (or run \`plum rules disable ${name}\`), then run \`plum rules apply\``,
    });
  }
  await store.query('delete from rules where name = $1', [name]);
}

export async function setRuleEnabled(store: Store, name: string, enabled: boolean): Promise<void> {
  const rule = await getStoredRule(store, name);
  if (!rule) throw new PlumError('not_found', `no rule named ${name}`, { hint: 'list rules with `plum rules list`' });
  await store.query('update rules set enabled = $2, hash = $3, updated_at = now() where name = $1', [name, enabled, ruleHash({ ...rule, enabled })]);
}
