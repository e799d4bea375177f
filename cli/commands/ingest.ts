import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Option, type Command } from 'commander';
import { PlumError, usageError } from '../../core/errors.ts';
import { parseNmapStream, PARSER_VERSION } from '../../core/nmap/parse.ts';
import { openXmlFile } from '../../core/nmap/read-file.ts';
import { formatIngestSummary, ingestScanResult, scanFromStream, type IngestSummary } from '../../store/ingest.ts';
import type { CliContext } from '../context.ts';
import { info } from '../output.ts';
import { ingestNmap2json } from './ingest-nmap2json.ts';
import { headOf, ingestMasscan } from './ingest-masscan.ts';
import { detectMasscanFormat } from '../../core/masscan/read.ts';
import { laterFileFailed, openImportContext } from '../import-context.ts';

/** Raw XML above this size is ingested but not kept (the database is no place for huge blobs). */
const MAX_RAW_BYTES = 256 * 1024 * 1024;

/** What plum ingest reads: the file's first bytes (checked first), its bytes for the parser, and the raw XML to keep. */
interface XmlInput {
  head: string;
  chunks: Iterable<Buffer> | AsyncIterable<Buffer>;
  raw: Buffer | undefined;
  /** The digest of a file too large to keep (read once more, in chunks, before the parse). */
  sha256?: string;
}

/** Bytes per chunk handed to the parser (its own read size: core/nmap/parse.ts openXmlFile). */
const CHUNK_BYTES = 64 * 1024;

/**
 * A file up to `maxRawBytes` is read whole, as its raw XML is kept, and handed
 * to the parser in chunk views of that buffer: one string per chunk, never one
 * for the file (V8's strings end at 512 MB: a larger file failed to decode).
 * A larger file is streamed from disk and not kept, so memory stays bounded;
 * its digest (one more read of the file) keeps a repeated import a no-op.
 */
export function readXmlInput(file: string, maxRawBytes = MAX_RAW_BYTES): XmlInput {
  try {
    const st = fs.statSync(file);
    if (st.isDirectory()) throw new PlumError('invalid_input', `${file} is a directory`, { hint: 'give an nmap XML file (nmap -oX)' });
    if (st.isFile() && st.size > maxRawBytes) {
      const fd = fs.openSync(file, 'r');
      try {
        const head = readHead(fd);
        // Not nmap XML: refused by the caller on its head, without reading the rest.
        if (!head.includes('<nmaprun')) return { head, chunks: [], raw: undefined };
        const buf = Buffer.allocUnsafe(1024 * 1024);
        const digest = createHash('sha256');
        for (let n: number; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) digest.update(buf.subarray(0, n));
        return { head, chunks: openXmlFile(file), raw: undefined, sha256: digest.digest('hex') };
      } finally {
        fs.closeSync(fd);
      }
    }
    const raw = fs.readFileSync(file);
    return { head: raw.subarray(0, CHUNK_BYTES).toString('utf8'), chunks: chunkViews(raw), raw };
  } catch (e) {
    throw readError(file, e);
  }
}

/**
 * `-`: nmap XML from standard input (`nmap … -oX - | plum ingest -`), read
 * whole, as a file up to the raw limit is, and kept as the job's raw XML (its
 * digest makes a repeated import a no-op). More than the limit is refused: a
 * file of any size is streamed, a pipe cannot be read twice for its digest.
 */
export async function readStdinInput(stdin: AsyncIterable<Buffer>, maxRawBytes = MAX_RAW_BYTES): Promise<XmlInput> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    size += chunk.length;
    if (size > maxRawBytes) {
      throw new PlumError('invalid_input', `standard input is over ${Math.round(maxRawBytes / 1024 / 1024)} MB`, {
        hint: 'write it to a file and give its path: files of any size are streamed',
      });
    }
    parts.push(chunk);
  }
  const raw = Buffer.concat(parts);
  return { head: raw.subarray(0, CHUNK_BYTES).toString('utf8'), chunks: chunkViews(raw), raw };
}

/** The first bytes of an open file, as text: enough to find `<nmaprun` and its start time. */
function readHead(fd: number): string {
  const buf = Buffer.alloc(CHUNK_BYTES);
  return buf.subarray(0, fs.readSync(fd, buf, 0, CHUNK_BYTES, 0)).toString('utf8');
}

function readError(file: string, e: unknown): PlumError {
  if (e instanceof PlumError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new PlumError('not_found', `no such file: ${file}`, { hint: 'check the path' });
  return new PlumError('invalid_input', `cannot read ${file}: ${(e as Error).message}`, { hint: 'check the file permissions' });
}

const notNmapXml = (file: string, head = '') =>
  new PlumError('parse_error', `${file === '-' ? 'standard input' : file} is not nmap XML (no <nmaprun> element)`, {
    hint: detectMasscanFormat(head) ? 'it looks like masscan output: add --format masscan' : 'give the file nmap wrote with -oX',
  });

/** Whether the files are masscan's XML (nmap's format, written by masscan): all of them or none, else a usage error. */
function masscanXmlFiles(files: string[]): boolean {
  if (files.includes('-')) return false;
  const masscan = files.filter((f) => detectMasscanFormat(headOf(f)) === 'xml');
  if (masscan.length > 0 && masscan.length < files.length) {
    throw usageError(`${masscan[0]} was written by masscan, other files by nmap`, "import masscan's files and nmap's in separate commands");
  }
  return masscan.length > 0;
}

/**
 * Several files: each is checked on its head before any is imported (a typo in
 * the tenth name must not leave nine imports behind it), and they are imported
 * in the order of their scans (nmaprun's start time), so the history's events
 * follow the scans whatever order the shell listed the files in. Files without
 * a start time keep their place after the dated ones.
 */
export function orderByScanStart(files: string[]): string[] {
  const dated = files.map((file, i) => {
    let head: string;
    try {
      const st = fs.statSync(file);
      if (!st.isFile())
        throw new PlumError('invalid_input', `${file} is not a regular file`, {
          hint: "import a pipe or a directory's files one by one, or list the files themselves",
        });
      const fd = fs.openSync(file, 'r');
      try {
        head = readHead(fd);
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      throw readError(file, e);
    }
    if (!head.includes('<nmaprun')) throw notNmapXml(file, head);
    const start = /<nmaprun\b[^>]*?\sstart="(\d+)"/.exec(head)?.[1];
    return { file, i, start: start === undefined ? Number.POSITIVE_INFINITY : Number(start) };
  });
  return dated.sort((a, b) => a.start - b.start || a.i - b.i).map((d) => d.file);
}

function* chunkViews(buf: Buffer): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += CHUNK_BYTES) yield buf.subarray(i, i + CHUNK_BYTES);
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('ingest')
    .description("import nmap XML files (old scans, other tools' nmap output) into the history; several files are imported in the order of their scans")
    .argument(
      '<files...>',
      'nmap XML output (nmap -oX), one file or several, or - for standard input; with --format nmap2json, files or directories; with --format masscan, files',
    )
    .option('--profile <name>', 'attach the imports to this scan profile')
    .addOption(
      new Option(
        '--format <format>',
        "what the files hold: nmap XML, the predecessor's nmap2json documents (stored results, search exports), or masscan output (-oX, -oJ, -oD; masscan's -oX is also recognised without it)",
      )
        .choices(['xml', 'nmap2json', 'masscan'])
        .default('xml'),
    )
    .action(async (files: string[], opts: { profile?: string; format: 'xml' | 'nmap2json' | 'masscan' }) => {
      if (opts.format === 'nmap2json') return ingestNmap2json(ctx, files, opts);
      if (opts.format === 'masscan' || masscanXmlFiles(files)) return ingestMasscan(ctx, files, opts);
      if (files.includes('-') && files.length > 1)
        throw usageError("'-' (standard input) cannot be combined with files", 'import the files and standard input in separate commands');
      if (files[0] === '-' && process.stdin.isTTY) throw usageError("'-' reads nmap XML from standard input", 'pipe it in: nmap … -oX - | plum ingest -');
      // One file (a pipe too) is read as before the store opens; several are checked on their heads first.
      const single = files.length > 1 ? undefined : files[0] === '-' ? await readStdinInput(process.stdin) : readXmlInput(files[0]!);
      if (single && !single.head.includes('<nmaprun')) throw notNmapXml(files[0]!, single.head);
      const ordered = single ? files : orderByScanStart(files);
      const { store, profileId, ruleDeps, owner } = await openImportContext(ctx, opts.profile);
      const total = { files: 0, hosts: 0, ports: 0, appeared: 0, changed: 0, gone: 0, reappeared: 0, stable: 0, incomplete: 0 };
      for (const [i, file] of ordered.entries()) {
        const label = ordered.length > 1 ? `[${i + 1}/${ordered.length}] ${file}: ` : '';
        let summary: IngestSummary;
        try {
          summary = await importFile(file, label, single ?? readXmlInput(file));
        } catch (e) {
          throw laterFileFailed(e, file, i, ordered.length);
        }
        info(`plum: ${label}${formatIngestSummary(summary)}`);
        total.files++;
        for (const k of ['hosts', 'ports', 'appeared', 'changed', 'gone', 'reappeared', 'stable'] as const) total[k] += summary[k];
        if (summary.errors.length) total.incomplete++;
      }
      if (ordered.length > 1) {
        info(
          `plum: imported ${total.files} files in scan order: ${total.hosts} hosts, ${total.ports} open ports, ${total.appeared} appeared, ${total.changed} changed, ` +
            `${total.gone} gone, ${total.reappeared} reappeared, ${total.stable} stable${total.incomplete ? `; ${total.incomplete} incomplete (see above)` : ''}`,
        );
      }

      async function importFile(file: string, label: string, { head, chunks, raw, sha256 }: XmlInput): Promise<IngestSummary> {
        // Refuse what is clearly not nmap XML before anything is written (a file changed since it was checked).
        if (!head.includes('<nmaprun')) throw notNmapXml(file, head);
        // Documents on demand: a batch of stable sightings stores none (core/nmap/host.ts DocumentsOnDemand).
        const source = file === '-' ? 'standard input' : file;
        const scan = scanFromStream(parseNmapStream(chunks, { source, documentsOnDemand: true }));
        const started = Date.now();
        let lastReport = started;
        const onProgress = (s: IngestSummary) => {
          const now = Date.now();
          if (now - lastReport >= 1000 && process.stderr.isTTY) {
            lastReport = now;
            process.stderr.write(`\rplum: ${label}${s.hosts} hosts, ${s.ports} open ports stored…`);
          }
        };
        try {
          return await ingestScanResult(
            store,
            {
              scan,
              source,
              profileId,
              rawXml: raw,
              resultSha256: sha256,
              retentionDays: ctx.config.PLUM_RAW_RETENTION_DAYS,
              parserVersion: PARSER_VERSION,
              owner,
            },
            { onProgress, ...ruleDeps },
          );
        } finally {
          if (lastReport !== started) process.stderr.write('\n');
        }
      }
    });
}
