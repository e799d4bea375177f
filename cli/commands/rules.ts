import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { PlumError } from '../../core/errors.ts';
import { compileRules, evaluateRules } from '../../core/rules/engine.ts';
import { parseRuleText } from '../../core/rules/load.ts';
import { validateRule } from '../../core/rules/import.ts';
import { runRuleTests, type RuleTestReport } from '../../core/rules/testing.ts';
import type { Rule } from '../../core/rules/schema.ts';
import {
  applyRules,
  getStoredRule,
  hostDocuments,
  importRulesDir,
  listStoredRules,
  openRuleContext,
  removeRule,
  setRuleEnabled,
} from '../../store/rules/index.ts';
import type { CliContext } from '../context.ts';
import { formatOption, info, printJson, printTable } from '../output.ts';
import { openCommandStore } from './init.ts';

type Fmt = { format: 'table' | 'json' };

const ruleJson = (r: Rule) => ({
  name: r.name,
  description: r.description,
  query: r.query,
  tags: r.tags,
  version: r.version,
  severity: r.severity ?? null,
  references: r.references,
  enabled: r.enabled,
  source: r.source,
  hash: r.hash,
  tests: r.tests ?? null,
});

function printTestReport(report: RuleTestReport, format: Fmt['format']): void {
  if (format === 'json') {
    printJson({ rules: report.rules, cases: report.cases, failures: report.failures, untested: report.untested });
  } else {
    for (const f of report.failures) {
      info(`FAIL ${f.rule} (${f.source}): ${f.kind}[${f.index}] ${JSON.stringify(f.doc)} → tags ${f.tags.join(' ') || '(none)'}`);
    }
    if (report.untested.length) info(`untested: ${report.untested.join(', ')}`);
    info(`${report.rules} rules, ${report.cases} cases, ${report.failures.length} failed`);
  }
  if (report.failures.length > 0) process.exitCode = 1;
}

export function register(program: Command, ctx: CliContext): void {
  const rules = program.command('rules').description("tagging rules: list, show, test, apply to stored documents, import the predecessor's rules");

  rules
    .command('list')
    .description('the rules in use (the shipped rules/ directory is loaded on first use)')
    .addOption(formatOption())
    .action(async (opts: Fmt) => {
      const store = await openCommandStore(ctx);
      await openRuleContext(store, ctx.config);
      const all = await listStoredRules(store);
      if (opts.format === 'json') {
        printJson(
          all.map((r) => ({
            name: r.name,
            tags: r.tags,
            query: r.query,
            source: r.source,
            version: r.version,
            severity: r.severity ?? null,
            enabled: r.enabled,
          })),
        );
        return;
      }
      printTable(
        all.map((r) => ({ name: r.enabled ? r.name : `${r.name} (disabled)`, severity: r.severity ?? '', tags: r.tags.join(' '), query: r.query })),
        ['name', 'severity', 'tags', 'query'],
      );
    });

  rules
    .command('show')
    .description('one rule: query, tags, version, source, test cases, and the rules it builds on')
    .argument('<name>', 'rule name')
    .addOption(formatOption())
    .action(async (name: string, opts: Fmt) => {
      const store = await openCommandStore(ctx);
      const { set } = await openRuleContext(store, ctx.config);
      const r = await getStoredRule(store, name);
      if (!r) throw new PlumError('not_found', `no rule named ${name}`, { hint: 'list rules with `plum rules list`' });
      const dependsOn = set.byName.get(name)?.dependsOn ?? [];
      if (opts.format === 'json') {
        printJson({ ...ruleJson(r), depends_on: dependsOn });
        return;
      }
      const lines = [
        `name:        ${r.name}${r.enabled ? '' : ' (disabled)'}`,
        `description: ${r.description}`,
        `query:       ${r.query}`,
        `tags:        ${r.tags.join(' ')}`,
        `version:     ${r.version}`,
        `severity:    ${r.severity ?? '-'}`,
        `source:      ${r.source}`,
        ...(r.references.length ? [`references:  ${r.references.join(' ')}`] : []),
        ...(dependsOn.length ? [`builds on:   ${dependsOn.join(', ')}`] : []),
        `tests:       ${r.tests ? `${r.tests.match.length} match, ${r.tests.no_match.length} no_match` : 'none'}`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });

  rules
    .command('test')
    .description("run rule test cases (all rules, one rule, or a rule file); with IP, run the rule on that host's stored ports")
    .argument('[rule]', 'rule name or path to a rule YAML file')
    .argument('[ip]', 'a stored host to try the rule on')
    .addOption(formatOption())
    .action(async (ruleArg: string | undefined, ip: string | undefined, opts: Fmt) => {
      const store = await openCommandStore(ctx);
      const rc = await openRuleContext(store, ctx.config);
      let set = rc.set;
      let name = ruleArg;
      if (ruleArg && /\.ya?ml$/i.test(ruleArg)) {
        if (!existsSync(ruleArg)) throw new PlumError('not_found', `no such rule file ${ruleArg}`, { hint: 'give a rule name or an existing .yaml file' });
        const candidate = parseRuleText(await readFile(ruleArg, 'utf8'), ruleArg);
        const why = validateRule(candidate);
        if (why) throw new PlumError('invalid_input', `${ruleArg}: ${why}`, { hint: 'fix the rule query' });
        const others = (await listStoredRules(store)).filter((r) => r.name !== candidate.name);
        set = compileRules([...others, candidate], { favicons: rc.favicons });
        name = candidate.name;
      }
      if (name && !set.byName.has(name)) {
        throw new PlumError('not_found', `no enabled rule named ${name}`, { hint: 'list rules with `plum rules list`' });
      }
      if (!ip) {
        printTestReport(runRuleTests(set, name ? [name] : undefined), opts.format);
        return;
      }
      const docs = await hostDocuments(store, ip);
      if (docs.length === 0) throw new PlumError('not_found', `no current open port stored for ${ip}`, { hint: 'scan or ingest the host first' });
      const rows = docs.map((d) => {
        const ev = evaluateRules(set, d.fields, { at: d.last_seen });
        return { port: `${d.port}/${d.protocol}`, hsh256: d.hsh256, matches: ev.rules.includes(name!), tags: ev.tags, stored_tags: d.tags };
      });
      if (opts.format === 'json') {
        printJson({ rule: name, ip, ports: rows });
        return;
      }
      printTable(
        rows.map((r) => ({ ...r, matches: r.matches ? 'yes' : 'no', hsh256: r.hsh256.slice(0, 12), tags: r.tags.join(' ') })),
        ['port', 'matches', 'hsh256', 'tags'],
      );
    });

  rules
    .command('apply')
    .description('load the rules directory, re-tag stored documents with the rules changed since the last apply, recompute scores')
    .option('--force', 're-run every rule and recompute every score')
    .addOption(formatOption())
    .action(async (opts: Fmt & { force?: boolean }) => {
      const store = await openCommandStore(ctx, { create: true });
      const rc = await openRuleContext(store, ctx.config, { sync: true });
      const s = rc.synced!;
      if (s.imported.length || s.updated.length || s.removed.length) {
        info(
          `rules: ${s.imported.length} new, ${s.updated.length} updated${s.removed.length ? `, ${s.removed.length} removed (${s.removed.join(', ')}: file gone)` : ''} from ${rc.rulesDir}`,
        );
      }
      const tty = process.stderr.isTTY;
      const summary = await applyRules(store, rc.set, rc.score, {
        force: opts.force,
        onProgress: (p) => {
          if (tty) process.stderr.write(`\rapplying: ${p.ips} hosts, ${p.documents} documents`);
        },
      });
      if (tty && summary.ips > 0) process.stderr.write('\n');
      if (opts.format === 'json') {
        printJson(summary);
        return;
      }
      info(
        summary.documents === 0 && summary.affected.length === 0 && !summary.scoreChanged
          ? 'rules: nothing changed since the last apply'
          : `rules: ${summary.affected.length} rules re-run (${summary.changed.length} changed, ${summary.removed.length} removed)` +
              `${summary.scoreChanged ? ', score configuration changed' : ''}; ${summary.documents} documents on ${summary.ips} hosts,` +
              ` ${summary.retagged} re-tagged, ${summary.rescored} re-scored, ${summary.hosts} host scores in ${(summary.durationMs / 1000).toFixed(1)} s`,
      );
    });

  for (const [cmd, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    rules
      .command(cmd)
      .description(`${cmd} a rule (kept across syncs of the rules directory); run \`plum rules apply\` afterwards`)
      .argument('<name>', 'rule name')
      .action(async (name: string) => {
        const store = await openCommandStore(ctx);
        await openRuleContext(store, ctx.config);
        await setRuleEnabled(store, name, enabled);
        info(`rules: ${name} ${enabled ? 'enabled' : 'disabled'} (run \`plum rules apply\` to update stored tags)`);
      });
  }

  rules
    .command('rm')
    .description('delete a rule (one imported, or whose file is gone); run `plum rules apply` afterwards to drop its tags')
    .argument('<name>', 'rule name')
    .action(async (name: string) => {
      const store = await openCommandStore(ctx);
      await openRuleContext(store, ctx.config);
      await removeRule(store, name, ctx.config.PLUM_RULES_DIR ?? undefined);
      info(`rules: ${name} removed (run \`plum rules apply\` to update stored tags)`);
    });

  rules
    .command('import')
    .description("import rule YAML files (the predecessor's format: description, query, tags, version); the newest version wins")
    .argument('<dir>', 'directory of rule files (searched recursively)')
    .addOption(formatOption())
    .action(async (dir: string, opts: Fmt) => {
      const store = await openCommandStore(ctx, { create: true });
      await openRuleContext(store, ctx.config);
      const res = await importRulesDir(store, dir);
      const out = { imported: res.imported.length, updated: res.updated.length, skipped: res.skipped.length, invalid: res.invalid };
      if (opts.format === 'json') {
        printJson({ ...out, imported_rules: res.imported, updated_rules: res.updated, skipped_files: res.skipped, notes: res.notes ?? [] });
        return;
      }
      for (const i of res.invalid) info(`invalid: ${i.file}: ${i.reason}`);
      for (const i of res.skipped) info(`skipped: ${i.file}: ${i.reason}`);
      for (const i of res.notes ?? []) info(`rewritten: ${i.file}: ${i.reason}`);
      info(
        `rules: ${out.imported} imported, ${out.updated} updated, ${out.skipped} skipped, ${res.invalid.length} invalid` +
          (out.imported + out.updated > 0 ? ' (run `plum rules apply` to re-tag stored documents)' : ''),
      );
    });
}
