import { once } from 'node:events';
import fs from 'node:fs';
import type { Command } from 'commander';
import { Option } from 'commander';
import { PlumError } from '../../core/errors.ts';
import { EXPORT_FORMATS } from '../../core/export/stream.ts';
import { exportObservations } from '../../activities/report.ts';
import type { CliContext } from '../context.ts';
import { info, writeOut } from '../output.ts';
import { openCommandStore } from './init.ts';

/**
 * Writes chunks to stdout (or a file written to a temp name and renamed at the
 * end, so a failed export never leaves half a file), honouring backpressure.
 * A closed pipe (`| head`) ends the export quietly (cli/main.ts).
 */
export async function writeChunks(chunks: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>, out?: string): Promise<number> {
  let bytes = 0;
  if (out) {
    const tmp = `${out}.${process.pid}.tmp`;
    const stream = fs.createWriteStream(tmp);
    try {
      for await (const c of chunks) {
        bytes += Buffer.byteLength(c);
        if (!stream.write(c)) await once(stream, 'drain');
      }
      stream.end();
      await once(stream, 'finish');
      fs.renameSync(tmp, out);
    } catch (e) {
      stream.destroy();
      fs.rmSync(tmp, { force: true });
      throw e instanceof PlumError
        ? e
        : new PlumError('internal', `cannot write ${out}: ${(e as Error).message}`, { cause: e, hint: 'check that the directory exists and is writable' });
    }
    return bytes;
  }
  // A reader that went away (EPIPE) is not a failure of the export: cli/main.ts ends every command quietly then.
  for await (const c of chunks) {
    bytes += Buffer.byteLength(c);
    await writeOut(c);
  }
  return bytes;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('export')
    .description('export matching observations to standard output: JSON, NDJSON, CSV or a MISP event (streamed)')
    .addOption(new Option('--format <format>', 'json, ndjson, csv or misp').choices([...EXPORT_FORMATS]).default('json'))
    .option('--query <q>', 'structured query (same language as `plum search`); default: everything')
    .option('--since <duration>', 'observations seen in the last N (30d, 12h, 2w); default: current exposure')
    .option('--from <date>', 'period start (YYYY-MM-DD or ISO-8601)')
    .option('--to <date>', 'period end (inclusive day, or ISO-8601)')
    .option('--out <file>', 'write to a file instead of standard output')
    .option('--misp-info <text>', 'MISP event title (info)')
    .option('--misp-uuid <uuid>', 'MISP event uuid: reuse it so re-exports update the same event')
    .addOption(
      new Option('--misp-distribution <n>', 'MISP distribution: 0 organisation, 1 community, 2 connected, 3 all').choices(['0', '1', '2', '3']).default('0'),
    )
    .option('--tlp <level>', 'TLP marking added as an event tag (clear, green, amber, amber+strict, red)', 'amber')
    .action(
      async (opts: {
        format: string;
        query?: string;
        since?: string;
        from?: string;
        to?: string;
        out?: string;
        mispInfo?: string;
        mispUuid?: string;
        mispDistribution: '0' | '1' | '2' | '3';
        tlp: string;
      }) => {
        if (opts.mispUuid && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(opts.mispUuid)) {
          throw new PlumError('usage', `invalid --misp-uuid "${opts.mispUuid}"`, { hint: 'use a UUID such as 6f1c6e43-98a4-4e07-9a0a-2f1f2c5d7d10' });
        }
        if (!['clear', 'white', 'green', 'amber', 'amber+strict', 'red'].includes(opts.tlp)) {
          throw new PlumError('usage', `invalid --tlp "${opts.tlp}"`, { hint: 'use clear, green, amber, amber+strict or red' });
        }
        const store = await openCommandStore(ctx);
        const { chunks } = exportObservations(store, {
          format: opts.format,
          query: opts.query,
          since: opts.since,
          from: opts.from,
          to: opts.to,
          misp: {
            ...(opts.mispInfo ? { info: opts.mispInfo } : {}),
            ...(opts.mispUuid ? { uuid: opts.mispUuid.toLowerCase() } : {}),
            distribution: opts.mispDistribution,
            eventTags: [`tlp:${opts.tlp}`],
          },
        });
        const bytes = await writeChunks(chunks, opts.out);
        if (opts.out) info(`wrote ${opts.out} (${bytes} bytes, ${opts.format})`);
      },
    );
}
