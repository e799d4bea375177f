import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { projectPath } from '../project-root.ts';

/**
 * NSE script arguments (`--script-args k=v,k2=v2`) checked against an
 * allowlist of argument names with value types (rules/nmap/script-args.yaml).
 * Option names say nothing about what a script argument does: `newtargets`
 * adds targets, `targets-xml.iX`, `userdb` or `oraclesids` read local files.
 * Only listed arguments pass, and their values must fit their type.
 */

export const SCRIPT_ARGS_FILE = projectPath('rules', 'nmap', 'script-args.yaml');

const specSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('int'), min: z.number().int(), max: z.number().int() }).strict(),
  z.object({ type: z.enum(['duration', 'bool', 'text', 'url-path', 'hostname']) }).strict(),
  z.object({ type: z.literal('enum'), values: z.array(z.string().min(1)).min(1) }).strict(),
]);
export type ScriptArgSpec = z.infer<typeof specSchema>;
export type ScriptArgAllowlist = ReadonlyMap<string, ScriptArgSpec>;

const fileSchema = z.object({ args: z.record(z.string().regex(/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/), specSchema) }).strict();

/** Parses the allowlist file's text (pure; throws on a malformed file). */
export function parseScriptArgAllowlist(text: string): ScriptArgAllowlist {
  const parsed = fileSchema.parse(parseYaml(text));
  return new Map(Object.entries(parsed.args));
}

let shipped: ScriptArgAllowlist | undefined;
/** The shipped allowlist, read once. */
export function shippedScriptArgAllowlist(): ScriptArgAllowlist {
  shipped ??= parseScriptArgAllowlist(readFileSync(SCRIPT_ARGS_FILE, 'utf8'));
  return shipped;
}

/** Arguments that add scan targets (nmap's `newtargets` and the target-discovering scripts' own). */
const ADDS_TARGETS = /(^|\.)(newtargets|max-newtargets)$|^targets-|\.iX$/i;
/** Argument names that point at files or directories (for a clearer refusal; the allowlist refuses them anyway). */
const NAMES_FILE =
  /(^|[._-])(\w*files?|filename|\w*db|dir|directory|\w*path|log|logfile|out|output|save|dump|creds?|\w*list|dest|destination|root|\w*sids|ix|known-hosts)$/i;

const TYPE_CHECK: Record<ScriptArgSpec['type'], (v: string, spec: ScriptArgSpec) => boolean> = {
  int: (v, s) => /^\d{1,9}$/.test(v) && s.type === 'int' && +v >= s.min && +v <= s.max,
  duration: (v) => /^\d{1,6}(\.\d{1,3})?(ms|s|m|h)?$/.test(v),
  bool: (v) => v === 'true' || v === 'false',
  text: (v) => /^[A-Za-z0-9_.:;/()+@%-]{1,200}$/.test(v),
  'url-path': (v) => /^\/[A-Za-z0-9_.~/%?&+-]{0,300}$/.test(v) && !v.includes('..') && !v.includes('//'),
  hostname: (v) => v.length <= 253 && /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/.test(v),
  enum: (v, s) => s.type === 'enum' && s.values.includes(v),
};

export type ScriptArgVerdict = { ok: true } | { ok: false; arg: string; reason: string };

/**
 * Judges a `--script-args` value (pure). Values are `key=value` pairs
 * separated by commas; quotes, braces and spaces (nmap's Lua table syntax)
 * are refused outright so the pairs read here are the pairs nmap reads.
 */
export function judgeScriptArgs(value: string, allowlist: ScriptArgAllowlist): ScriptArgVerdict {
  if (value.length > 1024) return { ok: false, arg: value.slice(0, 40), reason: 'is longer than 1024 characters' };
  if (!/^[A-Za-z0-9_.:;/()+@%=,?&~-]+$/.test(value)) {
    return { ok: false, arg: value, reason: 'uses characters outside key=value pairs (quotes, braces and spaces are not allowed)' };
  }
  for (const pair of value.split(',')) {
    const eq = pair.indexOf('=');
    const key = (eq >= 0 ? pair.slice(0, eq) : pair).toLowerCase();
    const v = eq >= 0 ? pair.slice(eq + 1) : undefined;
    if (!key) return { ok: false, arg: pair, reason: 'has no argument name' };
    if (ADDS_TARGETS.test(key)) return { ok: false, arg: key, reason: 'adds scan targets; targets come from the perimeter' };
    const spec = allowlist.get(key);
    if (!spec && NAMES_FILE.test(key)) return { ok: false, arg: key, reason: 'names a file or directory; scans never read or write local files' };
    if (!spec) return { ok: false, arg: key, reason: 'is not an allowed script argument (see rules/nmap/script-args.yaml)' };
    if (v === undefined || v === '') return { ok: false, arg: key, reason: 'needs a value (key=value)' };
    if (!TYPE_CHECK[spec.type](v, spec)) {
      const want =
        spec.type === 'int' ? `a whole number ${spec.min}-${spec.max}` : spec.type === 'enum' ? `one of ${spec.values.join(', ')}` : `a ${spec.type}`;
      return { ok: false, arg: `${key}=${v}`, reason: `needs ${want}` };
    }
  }
  return { ok: true };
}
