import { Option, type Command } from 'commander';
import { toExportRecord } from '../../activities/report.ts';
import { isPlumError, usageError } from '../../core/errors.ts';
import type { ExportRecord } from '../../core/export/record.ts';
import { csvHeader, csvRow } from '../../core/export/stream.ts';
import type { StoreSession } from '../../store/index.ts';
import { observationRowsById } from '../../store/repos/observation-rows.ts';
import { searchPorts, type HostHit, type SearchResult } from '../../store/search/index.ts';
import { meiliFromConfig } from '../../store/search/meili.ts';
import { reindexSearch } from '../../store/search/reindex.ts';
import type { CliContext } from '../context.ts';
import { formatOption, info, printJson, printJsonLine, printTable, writeOut } from '../output.ts';
import { openCommandStore } from './init.ts';
import { caretBlock, queryFromArgs } from './query.ts';

interface SearchCliOptions {
  token?: boolean;
  by: 'port' | 'host';
  format: 'table' | 'json' | 'ndjson' | 'csv';
  limit: string;
  cursor?: string;
  sort: 'last_seen' | 'score';
  history?: boolean;
}

const short = (iso: string) => iso.replace(/\.000Z$/, 'Z');

function tableRows(hosts: HostHit[]): Record<string, unknown>[] {
  return hosts.map((h) => {
    const first = h.ports[0];
    const what = h.ports.map((p) => p.title ?? [p.service, p.product].filter(Boolean).join(' ')).find(Boolean) ?? '';
    return {
      ip: h.ip,
      last_seen: short(h.last_seen),
      ports: h.ports.map((p) => `${p.port}/${p.protocol}`).join(','),
      score: h.score,
      tags: h.tags.join(' '),
      what: what.length > 60 ? `${what.slice(0, 57)}...` : what || (first ? first.state : ''),
    };
  });
}

/**
 * CSV rows are the export's (`plum export --format csv`): the same columns, order, list separator and
 * formula neutralisation, one row per matching port, in the order of the results.
 */
async function csvText(store: StoreSession, hosts: HostHit[]): Promise<string> {
  const ids = hosts.flatMap((h) => h.ports.map((p) => p.id));
  const byId = new Map<string, ExportRecord>();
  for (const [id, r] of await observationRowsById(store, ids)) byId.set(id, toExportRecord(r));
  return (
    csvHeader() +
    ids
      .map((id) => byId.get(id))
      .filter((r) => r !== undefined)
      .map(csvRow)
      .join('')
  );
}

async function print(store: StoreSession, res: SearchResult, format: SearchCliOptions['format']): Promise<void> {
  switch (format) {
    case 'json':
      printJson(res.hosts);
      break;
    case 'ndjson':
      for (const h of res.hosts) printJsonLine(h);
      break;
    case 'csv':
      await writeOut(await csvText(store, res.hosts));
      break;
    default:
      printTable(tableRows(res.hosts), ['ip', 'last_seen', 'ports', 'score', 'tags', 'what']);
  }
  // The cursor goes to stderr so stdout stays pure data in every format.
  if (res.nextCursor) info(`plum: more results: --cursor ${res.nextCursor}`);
}

export function register(program: Command, ctx: CliContext): void {
  const search = program
    .command('search')
    .description('search ports: structured query (field:value, AND/OR/NOT, parentheses) or --token free text; results grouped by IP')
    .argument('[query...]', 'the query, e.g. \'http_title.lk:"index of" port:80,8080 NOT tag:vuln:opendir\'')
    .option('--token', 'free-text search over whole documents (web-search syntax: words, "phrases", -exclusion, OR)')
    .addOption(
      new Option('--by <unit>', 'port: a group of terms matches one port; host: terms may match different ports of a host')
        .choices(['port', 'host'])
        .default('port'),
    )
    .addOption(formatOption(['table', 'json', 'ndjson', 'csv']))
    .option('--limit <n>', 'IPs per page (1..1000)', '50')
    .option('--cursor <cursor>', 'continue after a previous page (printed on stderr as "more results")')
    .addOption(new Option('--sort <key>', 'order of IPs').choices(['last_seen', 'score']).default('last_seen'))
    .option('--history', 'search every stored observation, not only ports open now (implied by since:/before:/after:/first_seen/last_seen)')
    .action(async (args: string[], opts: SearchCliOptions) => {
      if (args.length === 0) throw usageError('missing query', 'give a query, e.g. plum search port:443 http_server.lk:nginx (see plum query --explain)');
      const limit = Number(opts.limit);
      if (!/^\d+$/.test(opts.limit) || limit < 1 || limit > 1000)
        throw usageError('--limit must be a whole number from 1 to 1000', 'page with --cursor for more');
      let q: string;
      if (opts.token) q = args.join(' ');
      else {
        try {
          q = queryFromArgs(args);
        } catch (e) {
          if (isPlumError(e) && e.code === 'syntax' && opts.format === 'table')
            process.stderr.write(caretBlock(args.join(' '), Number(e.details?.position ?? 0)));
          throw e;
        }
      }
      const store = await openCommandStore(ctx);
      const meili = opts.token ? meiliFromConfig(ctx.config, ctx.log) : undefined;
      const res = await searchPorts(store, q, {
        by: opts.by,
        token: opts.token,
        limit,
        cursor: opts.cursor,
        sort: opts.sort,
        scope: opts.history ? 'history' : undefined,
        tokenBackend: meili?.backend,
      });
      await print(store, res, opts.format);
    });

  search
    .command('reindex')
    .description('rebuild the search index: Meilisearch from the database when PLUM_MEILI_URL is set; PostgreSQL search columns otherwise')
    .option('--batch <n>', 'documents per Meilisearch batch', '5000')
    .action(async (opts: { batch: string }) => {
      const batch = Number(opts.batch);
      if (!/^\d+$/.test(opts.batch) || batch < 1 || batch > 100_000) throw usageError('--batch must be a whole number from 1 to 100000');
      const store = await openCommandStore(ctx);
      const meili = meiliFromConfig(ctx.config, ctx.log);
      const summary = await reindexSearch(store, {
        meili: meili?.indexer,
        batch,
        onProgress: (done, total) => {
          if (process.stderr.isTTY) process.stderr.write(`\rplum: reindexed ${done}/${total}`);
        },
      });
      if (process.stderr.isTTY) process.stderr.write('\n');
      info(`plum: ${summary.message}`);
    });
}
