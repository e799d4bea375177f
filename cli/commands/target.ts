import { readFile } from 'node:fs/promises';
import { counted } from '../../core/plural.ts';
import type { Command } from 'commander';
import { PlumError } from '../../core/errors.ts';
import { parseTarget } from '../../core/targets.ts';
import { checkScope, describeOffenders } from '../../core/scope.ts';
import { systemResolver } from '../../activities/nmap.ts';
import { addTargets, listTargets, loadPerimeter, removeTargets, type TargetInfo } from '../../store/repos/targets.ts';
import type { CliContext } from '../context.ts';
import { formatOption, info, printJson, printTable } from '../output.ts';
import { openCommandStore } from './init.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const collect = (v: string, prev: string[]) => [
  ...prev,
  ...v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

const targetJson = (t: TargetInfo) => ({
  id: t.id,
  value: t.value,
  kind: t.kind,
  exclude: t.exclude,
  labels: t.labels,
  size: t.size,
  note: t.note,
  created_at: t.createdAt,
});

export function register(program: Command, ctx: CliContext): void {
  const target = program.command('target').description('declare the perimeter: addresses, CIDR ranges, ranges a-b, domain names, exclusions');

  target
    .command('add')
    .description('declare targets (or exclusions with --exclude); all values are checked before anything is saved')
    .argument('[value...]', 'IPv4/IPv6 address, CIDR (192.0.2.0/24), range (192.0.2.10-192.0.2.20 or 192.0.2.10-20) or FQDN')
    .option('--file <path>', 'read targets from a file, one per line ("#" starts a comment); "-" reads standard input')
    .option('--exclude', 'declare exclusions: never scanned, even when another target covers them', false)
    .option('--label <label>', 'label (repeatable or comma-separated); profiles can select targets by label', collect, [] as string[])
    .option('--note <text>', 'free-text note')
    .addOption(formatOption())
    .action(async (args: string[], opts: { exclude: boolean; label: string[]; note?: string; format: string; file?: string }) => {
      const values = [...args];
      if (opts.file) {
        let text: string;
        try {
          text = opts.file === '-' ? await readStdin() : await readFile(opts.file, 'utf8');
        } catch (e) {
          throw new PlumError('invalid_input', `cannot read ${opts.file}: ${(e as Error).message}`, { hint: 'check the path' });
        }
        const lines = text.split(/\r?\n/);
        for (let i = 0; i < lines.length; i++) {
          const v = lines[i]!.replace(/#.*/, '').trim();
          if (!v) continue;
          try {
            parseTarget(v);
          } catch (e) {
            const err = e as PlumError;
            throw new PlumError(err.code, `${opts.file === '-' ? 'stdin' : opts.file}:${i + 1}: ${err.message}`, { hint: err.hint });
          }
          values.push(v);
        }
      }
      if (values.length === 0) throw new PlumError('usage', 'no target given', { hint: 'give values as arguments or with --file' });
      const store = await openCommandStore(ctx, { create: true });
      const r = await addTargets(store, values, { exclude: opts.exclude, labels: opts.label, note: opts.note });
      const overlaps = r.overlaps.map((o) => ({ target: o.target, overlaps: o.overlaps, shared: Number(o.shared) }));
      if (opts.format === 'json') {
        printJson({ added: r.added.map(targetJson), unchanged: r.unchanged.map(targetJson), overlaps });
        return;
      }
      const what = opts.exclude ? 'exclusion' : 'target';
      const addresses = r.added.reduce((n, t) => n + (t.kind === 'fqdn' ? 0 : t.size), 0);
      const names = r.added.filter((t) => t.kind === 'fqdn').length;
      info(
        `added ${counted(r.added.length, what)} (${counted(addresses, 'address', 'addresses')}, ${counted(names, 'name')})` +
          (r.unchanged.length ? `; ${r.unchanged.length} already declared` : ''),
      );
      for (const o of overlaps) {
        info(
          `note: ${o.target} overlaps ${o.overlaps} (${o.shared === 1 && o.target === o.overlaps ? '1 shared name' : counted(o.shared, 'shared address', 'shared addresses')}); both are kept, planning scans each address once`,
        );
      }
    });

  target
    .command('list')
    .description('list declared targets and exclusions')
    .option('--label <label>', 'only targets with this label')
    .addOption(formatOption())
    .action(async (opts: { label?: string; format: string }) => {
      const store = await openCommandStore(ctx);
      const list = await listTargets(store, { label: opts.label });
      if (opts.format === 'json') {
        printJson(list.map(targetJson));
        return;
      }
      printTable(
        list.map((t) => ({ ...t, type: t.exclude ? 'exclude' : 'include' })),
        ['value', 'kind', 'type', 'size', 'labels', 'id'],
      );
    });

  target
    .command('check')
    .description('check whether targets are inside the perimeter (minus exclusions), as the scope guard does before a scan; names are resolved')
    .argument('<value...>', 'addresses, ranges or names to check')
    .addOption(formatOption())
    .action(async (values: string[], opts: { format: string }) => {
      const store = await openCommandStore(ctx);
      const decision = await checkScope(values, await loadPerimeter(store), { resolve: systemResolver });
      const bad = new Map(decision.offending.map((o) => [o.target, o]));
      const rows = values.map((v) => {
        let key = v;
        try {
          key = parseTarget(v).value;
        } catch {
          // Reported as invalid under its own spelling.
        }
        const o = bad.get(key) ?? bad.get(v);
        return {
          target: key,
          in_scope: !o,
          reason: o?.reason ?? null,
          addresses: o?.addresses ?? decision.resolved[key] ?? null,
        };
      });
      if (opts.format === 'json') printJson({ ok: decision.ok, targets: rows });
      else
        printTable(
          rows.map((r) => ({ ...r, in_scope: r.in_scope ? 'yes' : 'NO', reason: r.reason ?? '' })),
          ['target', 'in_scope', 'reason', 'addresses'],
        );
      if (!decision.ok) {
        info(`plum: out of scope: ${describeOffenders(decision.offending)}`);
        process.exitCode = 1;
      }
    });

  target
    .command('rm')
    .description('remove targets or exclusions (by value or id); all must exist, else nothing is removed')
    .argument('<value...>', 'value as listed, or id tgt_…')
    .addOption(formatOption())
    .action(async (values: string[], opts: { format: string }) => {
      const store = await openCommandStore(ctx);
      const removed = await removeTargets(store, values);
      if (opts.format === 'json') printJson({ removed: removed.map(targetJson) });
      else info(`removed ${removed.length} target${removed.length === 1 ? '' : 's'}: ${removed.map((t) => t.value).join(', ')}`);
    });
}
