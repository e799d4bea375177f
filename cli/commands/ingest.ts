import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { Command } from 'commander';
import { PlumError } from '../../core/errors.ts';
import { openXmlFile, parseNmapStream, PARSER_VERSION } from '../../core/nmap/parse.ts';
import { formatIngestSummary, ingestScanResult, scanFromStream, type IngestSummary } from '../../store/ingest.ts';
import { createRuleIngestDeps, openRuleContext } from '../../store/repos/rules.ts';
import type { CliContext } from '../context.ts';
import { info } from '../output.ts';
import { openCommandStore } from './init.ts';

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
        const buf = Buffer.allocUnsafe(1024 * 1024);
        const head = buf.subarray(0, fs.readSync(fd, buf, 0, CHUNK_BYTES, 0)).toString('utf8');
        // Not nmap XML: refused by the caller on its head, without reading the rest.
        if (!head.includes('<nmaprun')) return { head, chunks: [], raw: undefined };
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
    if (e instanceof PlumError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PlumError('not_found', `no such file: ${file}`, { hint: 'check the path' });
    throw new PlumError('invalid_input', `cannot read ${file}: ${(e as Error).message}`, { hint: 'check the file permissions' });
  }
}

function* chunkViews(buf: Buffer): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += CHUNK_BYTES) yield buf.subarray(i, i + CHUNK_BYTES);
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('ingest')
    .description('import an nmap XML file (old scans, other tools\' nmap output) into the history')
    .argument('<file>', 'nmap XML output (nmap -oX)')
    .option('--profile <name>', 'attach the import to this scan profile')
    .action(async (file: string, opts: { profile?: string }) => {
      const { head, chunks, raw, sha256 } = readXmlInput(file);
      // Refuse what is clearly not nmap XML before anything is written.
      if (!head.includes('<nmaprun')) {
        throw new PlumError('parse_error', `${file} is not nmap XML (no <nmaprun> element)`, { hint: 'give the file nmap wrote with -oX' });
      }
      const store = await openCommandStore(ctx);
      let profileId: string | undefined;
      if (opts.profile) {
        const [p] = await store.query<{ id: string }>('select id from scan_profiles where name = $1', [opts.profile]);
        if (!p) throw new PlumError('not_found', `no scan profile named "${opts.profile}"`, { hint: 'list them with plum profile list' });
        profileId = p.id;
      }
      // Tag rules at ingest, scores once each batch is committed (issue 7).
      const rules = await openRuleContext(store, ctx.config);
      const ruleDeps = createRuleIngestDeps(store, { set: rules.set, score: rules.score });
      // Documents on demand: a batch of stable sightings stores none (core/nmap/host.ts DocumentsOnDemand).
      const scan = scanFromStream(parseNmapStream(chunks, { source: file, documentsOnDemand: true }));
      const started = Date.now();
      let lastReport = started;
      const onProgress = (s: IngestSummary) => {
        const now = Date.now();
        if (now - lastReport >= 1000 && process.stderr.isTTY) {
          lastReport = now;
          process.stderr.write(`\rplum: ${s.hosts} hosts, ${s.ports} open ports stored…`);
        }
      };
      let summary: IngestSummary;
      try {
        summary = await ingestScanResult(store, {
          scan, source: file, profileId, rawXml: raw, resultSha256: sha256,
          retentionDays: ctx.config.PLUM_RAW_RETENTION_DAYS, parserVersion: PARSER_VERSION,
        }, { onProgress, ...ruleDeps });
      } finally {
        if (lastReport !== started) process.stderr.write('\n');
      }
      info(`plum: ${formatIngestSummary(summary)}`);
    });
}
