import fs from 'node:fs';
import type { Command } from 'commander';
import { PlumError } from '../../core/errors.ts';
import { parseNmapStream, PARSER_VERSION } from '../../core/nmap/parse.ts';
import { formatIngestSummary, ingestScanResult, scanFromStream, type IngestSummary } from '../../store/ingest.ts';
import { createRuleIngestDeps, openRuleContext } from '../../store/repos/rules.ts';
import type { CliContext } from '../context.ts';
import { info } from '../output.ts';
import { openCommandStore } from './init.ts';

/** Raw XML above this size is ingested but not kept (the database is no place for huge blobs). */
const MAX_RAW_BYTES = 256 * 1024 * 1024;

function readXml(file: string): Buffer {
  try {
    const st = fs.statSync(file);
    if (st.isDirectory()) throw new PlumError('invalid_input', `${file} is a directory`, { hint: 'give an nmap XML file (nmap -oX)' });
    return fs.readFileSync(file);
  } catch (e) {
    if (e instanceof PlumError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new PlumError('not_found', `no such file: ${file}`, { hint: 'check the path' });
    throw new PlumError('invalid_input', `cannot read ${file}: ${(e as Error).message}`, { hint: 'check the file permissions' });
  }
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('ingest')
    .description('import an nmap XML file (old scans, other tools\' nmap output) into the history')
    .argument('<file>', 'nmap XML output (nmap -oX)')
    .option('--profile <name>', 'attach the import to this scan profile')
    .action(async (file: string, opts: { profile?: string }) => {
      const xml = readXml(file);
      // Refuse what is clearly not nmap XML before anything is written.
      const head = xml.subarray(0, 64 * 1024).toString('utf8');
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
      const scan = scanFromStream(parseNmapStream([xml], { source: file, documentsOnDemand: true }));
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
          scan, source: file, profileId, rawXml: xml.length <= MAX_RAW_BYTES ? xml : undefined,
          retentionDays: ctx.config.PLUM_RAW_RETENTION_DAYS, parserVersion: PARSER_VERSION,
        }, { onProgress, ...ruleDeps });
      } finally {
        if (lastReport !== started) process.stderr.write('\n');
      }
      info(`plum: ${formatIngestSummary(summary)}`);
    });
}
