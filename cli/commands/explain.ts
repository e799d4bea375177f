import type { Command } from 'commander';
import { PlumError } from '../../core/errors.ts';
import type { FeatureScore } from '../../core/score.ts';
import { explainHost, openRuleContext } from '../../store/rules/index.ts';
import type { CliContext } from '../context.ts';
import { formatOption, printJson, renderTable } from '../output.ts';
import { openCommandStore } from './init.ts';

const fmtValue = (f: FeatureScore) => {
  const v = f.value;
  if (v === null) return '-';
  if (Array.isArray(v)) return v.length ? v.join(' ') : '-';
  if (f.name === 'newly_appeared' || f.name === 'recently_changed') return `${v} days ago`;
  if (f.name === 'open_ports') return `${v} open`;
  return String(v);
};

const featureRows = (features: FeatureScore[]) =>
  features.map((f) => ({
    feature: f.name,
    value: fmtValue(f),
    normalized: f.normalized.toFixed(3),
    weight: f.weight,
    contribution: f.contribution,
    share: `${f.percent.toFixed(1)}%`,
  }));

export function register(program: Command, ctx: CliContext): void {
  program
    .command('explain')
    .description("why a host has its exposure score: each feature's value, normalised value, weight and contribution")
    .argument('<ip>', 'IPv4 or IPv6 address')
    .addOption(formatOption())
    .action(async (ip: string, opts: { format: 'table' | 'json' }) => {
      if (!/^[0-9a-fA-F:.]+$/.test(ip))
        throw new PlumError('usage', `'${ip}' is not an IP address`, { hint: 'give an IPv4 or IPv6 address, e.g. plum explain 127.0.0.1' });
      const store = await openCommandStore(ctx);
      const rc = await openRuleContext(store, ctx.config);
      const ex = await explainHost(store, ip, rc.score);
      if (opts.format === 'json') {
        printJson({
          ip: ex.ip,
          score: ex.score,
          band: ex.band,
          features: ex.features,
          ports: ex.ports.map((p) => ({
            protocol: p.protocol,
            port: p.port,
            hsh256: p.hsh256,
            score: p.score,
            band: p.band,
            tags: p.tags,
            features: p.features,
          })),
        });
        return;
      }
      const cols = ['feature', 'value', 'normalized', 'weight', 'contribution', 'share'];
      const out = [
        `${ex.ip}: score ${ex.score}/100, band ${ex.band}`,
        '',
        renderTable(featureRows(ex.features), cols).trimEnd(),
        `${''.padEnd(0)}total contribution ${ex.features.reduce((a, f) => a + f.contribution, 0)} = score ${ex.score}`,
      ];
      for (const p of ex.ports) {
        out.push('', `${p.port}/${p.protocol}: score ${p.score}, band ${p.band}; tags ${p.tags.join(' ') || '-'}`);
        out.push(renderTable(featureRows(p.features.filter((f) => f.contribution > 0 || f.normalized > 0)), cols).trimEnd());
      }
      process.stdout.write(`${out.join('\n')}\n`);
    });
}
