import type { Command } from 'commander';
import { notFound } from '../../core/errors.ts';
import { getHostScore } from '../../store/repos/host-score.ts';
import { getHostView, type HostService } from '../../store/repos/observations.ts';
import type { CliContext } from '../context.ts';
import { formatOption, info, printJson, renderTable } from '../output.ts';
import { eventJson, eventRow } from './history.ts';
import { openCommandStore } from './init.ts';

const serviceJson = (s: HostService) => ({
  protocol: s.protocol,
  port: s.port,
  state: s.state,
  hsh256: s.hsh256,
  fp_version: s.fp_version,
  first_seen: s.first_seen.toISOString(),
  last_seen: s.last_seen.toISOString(),
  times_seen: s.times_seen,
  state_changed_at: s.state_changed_at.toISOString(),
  hostnames: s.hostnames,
  fields: s.fields,
  tags: s.tags,
  score: s.score,
  flapping: s.flapping,
});

const summaryOf = (s: HostService) => {
  const f = s.fields;
  const parts = [
    [f.service_name?.[0], f.service_product?.[0], f.service_version?.[0]].filter(Boolean).join(' '),
    f.http_title?.[0] ? `title: ${f.http_title[0]}` : '',
    !f.http_title?.[0] && f.banner?.[0] ? `banner: ${f.banner[0].slice(0, 60)}` : '',
  ].filter(Boolean);
  return parts.join('; ');
};

export function register(program: Command, ctx: CliContext): void {
  program
    .command('host')
    .description('current services of a host (fingerprints, tags) and its history of events')
    .argument('<ip>', 'IPv4 or IPv6 address')
    .addOption(formatOption())
    .action(async (ip: string, opts: { format: 'table' | 'json' }) => {
      const store = await openCommandStore(ctx);
      const view = await getHostView(store, ip, { flapping: ctx.config.PLUM_FLAPPING });
      if (!view) throw notFound(`nothing is known about ${ip}`, 'scan it or import a scan with plum ingest FILE.xml');
      const hostScore = await getHostScore(store, view.ip);
      if (opts.format === 'json') {
        printJson({
          ip: view.ip,
          first_seen: view.first_seen?.toISOString() ?? null,
          last_seen: view.last_seen?.toISOString() ?? null,
          hostnames: view.hostnames,
          tags: view.tags,
          score: hostScore ?? null,
          services: view.services.map(serviceJson),
          events: view.events.map(eventJson),
        });
        return;
      }
      const out: string[] = [];
      out.push(`${view.ip}${view.hostnames.length ? ` (${view.hostnames.join(', ')})` : ''}`);
      if (view.tags.length) out.push(`tags: ${view.tags.join(' ')}`);
      if (hostScore) out.push(`score: ${hostScore.score} (${hostScore.band}; plum explain ${view.ip} says why)`);
      out.push('');
      out.push(
        view.services.length
          ? renderTable(
              view.services.map((s) => ({
                port: `${s.port}/${s.protocol}`,
                // Flapping now (PLUM_FLAPPING): the state shown may not last until the next scan.
                state: s.flapping ? `${s.state} (flapping)` : s.state,
                first_seen: s.first_seen.toISOString().replace('.000Z', 'Z'),
                last_seen: s.last_seen.toISOString().replace('.000Z', 'Z'),
                hsh256: s.hsh256.slice(0, 12),
                tags: s.tags.join(' '),
                service: summaryOf(s),
              })),
              ['port', 'state', 'first_seen', 'last_seen', 'hsh256', 'tags', 'service'],
            ).trimEnd()
          : '(no current services)',
      );
      out.push('');
      out.push('history:');
      out.push(view.events.length ? renderTable(view.events.map(eventRow), ['at', 'type', 'port', 'fingerprint', 'changes']).trimEnd() : '(no events)');
      process.stdout.write(`${out.join('\n')}\n`);
      if (view.services.length === 0) info(`plum: ${view.ip} has no current services`);
    });
}
