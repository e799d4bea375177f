import { PlumError } from '../../core/errors.ts';
import { parseTarget } from '../../core/targets.ts';
import type { Store } from '../../store/index.ts';
import { addTargets, type AddTargetsResult, type TargetInfo } from '../../store/repos/targets.ts';

export const IMPORT_MAX_LINES = 100_000;

export interface TargetImportReport {
  accepted: TargetInfo[];
  duplicate: { line: number; value: string }[];
  invalid: { line: number; value: string; error: string }[];
  overlaps: AddTargetsResult['overlaps'];
}

/**
 * Bulk import, one target per line (# comments and blank lines skipped), as
 * POST /v1/targets/import and the web perimeter page do it: valid entries are
 * stored together even when other lines are invalid; the report names every
 * refused or repeated line.
 */
export async function importTargetList(store: Store, text: string, opts: { exclude: boolean; labels: string[] }): Promise<TargetImportReport> {
  const lines = text.split(/\r?\n/);
  if (lines.length > IMPORT_MAX_LINES) throw new PlumError('payload_too_large', `more than ${IMPORT_MAX_LINES} lines`, { hint: 'import in several batches' });
  const invalid: { line: number; value: string; error: string }[] = [];
  const duplicate: { line: number; value: string }[] = [];
  const firstLine = new Map<string, number>();
  const values: string[] = [];
  lines.forEach((raw, i) => {
    const value = raw.replace(/#.*$/, '').trim();
    if (!value) return;
    try {
      const canonical = parseTarget(value).value;
      if (firstLine.has(canonical)) {
        duplicate.push({ line: i + 1, value });
        return;
      }
      firstLine.set(canonical, i + 1);
      values.push(value);
    } catch (e) {
      invalid.push({ line: i + 1, value: value.slice(0, 300), error: e instanceof PlumError ? e.message : String(e) });
    }
  });
  if (values.length === 0) return { accepted: [], duplicate, invalid, overlaps: [] };
  const r = await addTargets(store, values, opts);
  for (const t of r.unchanged) duplicate.push({ line: firstLine.get(t.value) ?? 0, value: t.value });
  duplicate.sort((a, b) => a.line - b.line);
  return { accepted: r.added, duplicate, invalid, overlaps: r.overlaps };
}
