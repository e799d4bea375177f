import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { PlumError } from '../errors.ts';
import { compileRules, type RuleSet } from './engine.ts';
import type { FaviconDb } from './favicon-db.ts';
import { RULE_NAME_RE, ruleFileSchema, toRule, type Rule } from './schema.ts';
import { projectPath } from '../project-root.ts';

/** The rules shipped with Plum (`rules/` at the repository root). */
export const BUILTIN_RULES_DIR = `${projectPath('rules')}/`;

/** Files in a rules directory that are not rules. */
const NOT_RULES = new Set(['score.yaml', 'score.yml']);

const isYaml = (f: string) => /\.ya?ml$/i.test(f);

/** A rule name derived from a file name: `Open SSH (Debian).yaml` → `open-ssh-debian`. */
export function ruleNameFromFile(file: string): string {
  return path
    .basename(file)
    .replace(/\.ya?ml$/i, '')
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 100);
}

/** Parses one rule file's text; throws a one-line PlumError naming the file and the first problem. */
export function parseRuleText(text: string, file: string): Rule {
  return ruleFromObject(parseRuleYaml(text, file), file);
}

/** A rule file's YAML as a mapping; throws a one-line PlumError naming the file. */
export function parseRuleYaml(text: string, file: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: false });
  } catch (e) {
    throw new PlumError('invalid_input', `${file}: not valid YAML: ${(e as Error).message.split('\n')[0]}`, {
      hint: 'fix the YAML syntax of the rule file',
    });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new PlumError('invalid_input', `${file}: a rule file must be a YAML mapping`, {
      hint: 'give description, query, tags and version',
    });
  }
  return raw as Record<string, unknown>;
}

/** A rule from a parsed rule file; throws a one-line PlumError naming the file and the first problem. */
export function ruleFromObject(raw: Record<string, unknown>, file: string): Rule {
  const parsed = ruleFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
    throw new PlumError('invalid_input', `${file}: ${where}${issue.message}`, {
      hint: 'a rule has description, query, tags (namespace:value) and version; see rules/README',
    });
  }
  const name = parsed.data.name ?? ruleNameFromFile(file);
  if (!RULE_NAME_RE.test(name)) {
    throw new PlumError('invalid_input', `${file}: cannot derive a rule name from the file name`, {
      hint: 'add a `name:` of lowercase letters, digits and dashes',
    });
  }
  return toRule(parsed.data, name, file);
}

/** Rule files directly in `dir` (sub-folders belong to other data, e.g. rules/fingerprint/). */
export async function listRuleFiles(dir: string, opts: { recursive?: boolean } = {}): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true, recursive: opts.recursive ?? false });
  } catch (e) {
    throw new PlumError('not_found', `cannot read rules directory ${dir}: ${(e as Error).message}`, {
      hint: 'give an existing directory of rule YAML files',
      cause: e,
    });
  }
  return entries
    .filter((e) => e.isFile() && isYaml(e.name) && !NOT_RULES.has(e.name))
    .map((e) => path.join(e.parentPath ?? dir, e.name))
    .sort();
}

/** Reads every rule file of `dir`; the first invalid file stops with its name and reason. */
export async function loadRuleFiles(dir: string): Promise<Rule[]> {
  const files = await listRuleFiles(dir);
  const rules: Rule[] = [];
  for (const file of files) rules.push(parseRuleText(await readFile(file, 'utf8'), file));
  return rules;
}

/** Loads and compiles a rules directory (default: the shipped rules). */
export async function loadRules(dir = BUILTIN_RULES_DIR, opts: { favicons?: FaviconDb } = {}): Promise<RuleSet> {
  return compileRules(await loadRuleFiles(dir), opts);
}
