import { PlumError } from '../../core/errors.ts';
import { evaluateRules, type RuleSet } from '../../core/rules/engine.ts';
import type { Store } from '../../store/index.ts';
import { hostDocuments, mergeRules, type RuleMergeResult } from '../../store/rules/index.ts';
import { importRuleTexts, type ImportProblem, type RuleText } from '../../core/rules/import.ts';

/**
 * One rule evaluated on a host's current open ports (POST /v1/rules/test with
 * an ip, and the web rule page): which ports it matches and the tags the
 * rules give each port now, next to the stored tags.
 */
export async function testRuleOnHost(store: Store, rc: { set: RuleSet }, rule: string, ip: string) {
  if (!rc.set.byName.has(rule)) throw new PlumError('not_found', `no enabled rule named ${rule}`, { hint: 'list rules with GET /v1/rules' });
  let docs;
  try {
    docs = await hostDocuments(store, ip);
  } catch (e) {
    if (e instanceof PlumError) throw e;
    throw new PlumError('invalid_input', `invalid body field "ip": "${ip}" is not an IP address`);
  }
  if (docs.length === 0) throw new PlumError('not_found', `no current open port stored for ${ip}`, { hint: 'scan or ingest the host first' });
  const ports = docs.map((d) => {
    const ev = evaluateRules(rc.set, d.fields, { at: d.last_seen });
    return { protocol: d.protocol, port: d.port, hsh256: d.hsh256, matches: ev.rules.includes(rule), tags: ev.tags, storedTags: d.tags };
  });
  return { rule, ip, ports };
}

/** Bounds of one upload of rule files (the web rules page). */
export const RULE_UPLOAD_MAX_FILES = 500;
export const RULE_FILE_MAX_BYTES = 256 * 1024;

export interface UploadedRuleFile {
  name: string;
  bytes: Uint8Array;
}

/**
 * Uploaded rule files imported as `plum rules import DIR` imports a
 * directory: the same format (the predecessor's or Plum's), the same checks,
 * the newest version wins, and the same report (imported, updated, skipped,
 * invalid with the reason, rewritten). A file is named by its base name only
 * (a client's path means nothing here); files that are not YAML, too large or
 * not UTF-8 are reported invalid, the others are imported all the same.
 */
export async function importRuleUploads(store: Store, files: UploadedRuleFile[]): Promise<RuleMergeResult> {
  if (files.length === 0) throw new PlumError('invalid_input', 'no rule file was sent', { hint: 'choose one or more .yaml rule files' });
  if (files.length > RULE_UPLOAD_MAX_FILES) {
    throw new PlumError('payload_too_large', `more than ${RULE_UPLOAD_MAX_FILES} rule files at once`, { hint: 'import them in several batches' });
  }
  const texts: RuleText[] = [];
  const refused: ImportProblem[] = [];
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  for (const f of files) {
    const name = f.name.split(/[\\/]/).pop()!.slice(0, 200) || 'unnamed';
    if (!/\.ya?ml$/i.test(name)) refused.push({ file: name, reason: 'not a .yaml or .yml file' });
    else if (/^score\.ya?ml$/i.test(name)) refused.push({ file: name, reason: 'score.yaml holds score weights, not a rule' });
    else if (f.bytes.byteLength > RULE_FILE_MAX_BYTES) refused.push({ file: name, reason: `larger than ${RULE_FILE_MAX_BYTES / 1024} KiB` });
    else {
      try {
        texts.push({ name, text: utf8.decode(f.bytes) });
      } catch {
        refused.push({ file: name, reason: 'not UTF-8 text' });
      }
    }
  }
  const legacy = importRuleTexts(texts);
  const merged = legacy.rules.length ? await mergeRules(store, legacy.rules) : { imported: [], updated: [], removed: [], skipped: [], invalid: [] };
  return { ...merged, skipped: [...legacy.superseded, ...merged.skipped], invalid: [...refused, ...legacy.invalid, ...merged.invalid], notes: legacy.notes };
}
