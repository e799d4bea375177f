import type { FieldDiff } from '../../core/history/diff.ts';
import { Option, type Command } from 'commander';
import { parseSince } from '../../core/duration.ts';
import { usageError } from '../../core/errors.ts';
import { listEvents, type HistoryEvent } from '../../store/repos/observations.ts';
import { EVENT_TYPES, type EventType } from '../../store/schema/observation-events.ts';
import type { CliContext } from '../context.ts';
import { csvLine } from '../../core/export/stream.ts';
import { formatOption, info, printJson, printJsonLine, printTable, writeOut } from '../output.ts';
import { openCommandStore } from './init.ts';

export function parseEventTypes(text: string): EventType[] {
  const types = text
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  for (const t of types) {
    if (!(EVENT_TYPES as readonly string[]).includes(t)) {
      throw usageError(`unknown event type "${t}"`, `use one or more of ${EVENT_TYPES.join(',')}`);
    }
  }
  return types as EventType[];
}

/** JSON shape of one event (the CLI contract): ISO times, fingerprints involved. */
export const eventJson = (e: HistoryEvent) => ({
  id: e.id,
  type: e.type,
  ip: e.ip,
  protocol: e.protocol,
  port: e.port,
  at: e.at.toISOString(),
  hsh256: e.hsh256,
  previous_hsh256: e.previous_hsh256,
  observation_id: e.observation_id,
  previous_observation_id: e.previous_observation_id,
  run_id: e.run_id,
  job_id: e.job_id,
  changes: e.changes ?? null,
  flapping: e.flapping,
});

/** `http_title: Welcome → Under maintenance; banner: … → …` (values cut to stay on one line). */
export function formatChanges(changes: readonly FieldDiff[] | null | undefined): string {
  const show = (v: string[]) => {
    // A script's output spans lines: one line a change in the table.
    const text = v.length ? v.join(', ').replace(/\s+/g, ' ').trim() : '(none)';
    return text.length > 40 ? `${text.slice(0, 39)}…` : text;
  };
  return (changes ?? []).map((c) => `${c.field}: ${show(c.old)} → ${show(c.new)}`).join('; ');
}

export const eventRow = (e: HistoryEvent) => ({
  at: e.at.toISOString().replace('.000Z', 'Z'),
  // The event is one of a flapping port's goings and comings back (PLUM_FLAPPING).
  type: e.flapping ? `${e.type} (flapping)` : e.type,
  ip: e.ip,
  port: `${e.port}/${e.protocol}`,
  fingerprint: e.previous_hsh256 ? `${e.previous_hsh256.slice(0, 12)} → ${e.hsh256.slice(0, 12)}` : e.hsh256.slice(0, 12),
  changes: formatChanges(e.changes),
});

/** The CSV of the feed: one event a line, its field-level changes as one cell (`field: old → new; …`, uncut). */
const CSV_EVENT_COLUMNS = ['at', 'type', 'ip', 'protocol', 'port', 'hsh256', 'previous_hsh256', 'changes', 'run_id', 'observation_id', 'flapping'] as const;
export function eventsCsv(events: HistoryEvent[]): string {
  const full = (c: FieldDiff) => `${c.field}: ${c.old.join(', ') || '(none)'} → ${c.new.join(', ') || '(none)'}`;
  return (
    csvLine(CSV_EVENT_COLUMNS) +
    events
      .map((e) =>
        csvLine([
          e.at.toISOString(),
          e.type,
          e.ip,
          e.protocol,
          String(e.port),
          e.hsh256,
          e.previous_hsh256 ?? '',
          (e.changes ?? []).map(full).join('; '),
          e.run_id ?? '',
          e.observation_id,
          String(e.flapping),
        ]),
      )
      .join('')
  );
}

interface HistoryOptions {
  since: string;
  event?: string;
  net?: string;
  tag?: string;
  /** False with --no-flapping. */
  flapping: boolean;
  limit: string;
  format: 'table' | 'json' | 'ndjson' | 'csv';
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('history')
    .description('the change feed: ports that appeared, changed, went away or came back (newest first)')
    .option('--since <when>', "only events since a duration ago (7d, 12h), a date, or all; events carry the scan's time, not the import's", '7d')
    .option('--event <types>', `comma-separated event types (${EVENT_TYPES.join(',')})`)
    .option('--net <ip-or-cidr>', 'only events of these addresses')
    .option('--tag <tag>', 'only events of services carrying this tag (e.g. product:nginx)')
    .option('--no-flapping', 'leave out the gone/reappeared events of flapping ports (PLUM_FLAPPING); every other event stays')
    .addOption(new Option('--limit <n>', 'at most this many events').default('10000'))
    .addOption(formatOption(['table', 'json', 'ndjson', 'csv']))
    .action(async (opts: HistoryOptions) => {
      const since = parseSince(opts.since, new Date());
      const types = opts.event ? parseEventTypes(opts.event) : undefined;
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw usageError(`invalid --limit "${opts.limit}"`, 'give a positive whole number');
      if (opts.net && !/^[0-9a-f:.]+(\/\d{1,3})?$/i.test(opts.net)) {
        throw usageError(`invalid --net "${opts.net}"`, 'give an address or a CIDR such as 192.0.2.0/24');
      }
      const store = await openCommandStore(ctx);
      const filters = { types, net: opts.net, tag: opts.tag, flapping: ctx.config.PLUM_FLAPPING, hideFlapping: !opts.flapping };
      // One more than asked, to know whether the limit cut the feed.
      const events = await listEvents(store, { since, ...filters, limit: limit + 1 });
      const cut = events.length > limit;
      if (cut) events.length = limit;
      if (opts.format === 'json') printJson(events.map(eventJson));
      else if (opts.format === 'ndjson') for (const e of events) printJsonLine(eventJson(e));
      else if (opts.format === 'csv') await writeOut(eventsCsv(events));
      else printTable(events.map(eventRow), ['at', 'type', 'ip', 'port', 'fingerprint', 'changes']);
      // Messages go to standard error, so `--format json` output stays a plain array.
      if (cut) info(`plum: showing the newest ${limit} events; raise --limit or narrow --since/--event/--net for more`);
      if (events.length === 0 && since.getTime() > 0) {
        // Events carry nmap's scan times: an imported older scan lies outside the default window.
        const [older] = await listEvents(store, { ...filters, limit: 1 });
        if (older) {
          const day = older.at.toISOString().slice(0, 10);
          info(
            `plum: no events since ${since.toISOString().slice(0, 19)}Z; the newest matching event is from ${day} (events carry the scan's time): use --since ${day} or --since all`,
          );
        }
      }
    });
}
