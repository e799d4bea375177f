import { createHash } from 'node:crypto';
import fs from 'node:fs';
import readline from 'node:readline';
import { PlumError, usageError } from '../../core/errors.ts';
import { MASSCAN_BANNERS_VIEW, MASSCAN_VIEW, MasscanHosts } from '../../core/masscan/hosts.ts';
import { detectMasscanFormat, masscanRecordsOfLine, type MasscanRecord } from '../../core/masscan/read.ts';
import { formatIngestSummary, ingestScanResult, type IngestSummary } from '../../store/ingest.ts';
import type { CliContext } from '../context.ts';
import { laterFileFailed, openImportContext } from '../import-context.ts';
import { info } from '../output.ts';

/*
 * `plum ingest --format masscan FILE…` (and nmap-format XML that masscan wrote, recognised by its
 * `scanner="masscan"`): masscan's -oX, -oJ and -oD files into the history. Every file is read and checked
 * before anything is written; then the files are imported in the order of their first records, each one
 * as an import job recognised by the digest of its bytes (a repeated import changes nothing).
 *
 * No file says which addresses and ports were scanned without answering (masscan lists only what
 * answered), so an import never passes a scope: nothing is declared gone from it. Its ports are stored in
 * the masscan view (core/masscan/hosts.ts), so an nmap scan of the same port records no change.
 */

interface CheckedFile {
  file: string;
  sha256: string;
  first: number;
  records: number;
}

/** Two imports of one file as one: counts added, the first's run and job named. */
function addSummaries(a: IngestSummary, b: IngestSummary): IngestSummary {
  const sum = { ...a, errors: [...a.errors, ...b.errors], warnings: [...(a.warnings ?? []), ...(b.warnings ?? [])] };
  for (const k of ['hosts', 'hostsUp', 'ports', 'appeared', 'changed', 'gone', 'reappeared', 'stable', 'historic', 'alreadyIngested'] as const)
    sum[k] = a[k] + b[k];
  return sum;
}

/** A file's first bytes (its format is told from them). */
export function headOf(file: string): string {
  let fd: number;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) throw new PlumError('invalid_input', `${file} is not a regular file`, { hint: 'list the files themselves' });
    fd = fs.openSync(file, 'r');
  } catch (e) {
    if (e instanceof PlumError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new PlumError('not_found', `no such file: ${file}`, { hint: 'check the path' });
    throw new PlumError('invalid_input', `cannot read ${file}: ${(e as Error).message}`, { hint: 'check the file permissions' });
  }
  try {
    const buf = Buffer.alloc(4096);
    return buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads one file through, handing each record to `each`; returns the digest of its bytes. */
async function readMasscanFile(file: string, each: (r: MasscanRecord) => void): Promise<{ sha256: string; records: number }> {
  const head = headOf(file);
  const digest = createHash('sha256');
  // masscan leaves its output file empty when nothing answered: a scan that found nothing.
  if (head.trim() === '') return { sha256: digest.update(fs.readFileSync(file)).digest('hex'), records: 0 };
  const format = detectMasscanFormat(head);
  if (!format) {
    throw new PlumError('parse_error', `${file} is not masscan output`, { hint: 'give a file masscan wrote with -oX, -oJ or -oD' });
  }
  const input = fs.createReadStream(file);
  input.on('data', (chunk) => digest.update(chunk));
  let n = 0;
  let records = 0;
  for await (const line of readline.createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    n++;
    for (const r of masscanRecordsOfLine(format, line, `${file}:${n}`)) {
      records++;
      each(r);
    }
  }
  return { sha256: digest.digest('hex'), records };
}

/** Checks every file (records only: nothing kept), in the order of their first record. */
export async function checkMasscanFiles(files: string[]): Promise<CheckedFile[]> {
  const checked: Array<CheckedFile & { i: number }> = [];
  for (const [i, file] of files.entries()) {
    let first = Number.POSITIVE_INFINITY;
    const { sha256, records } = await readMasscanFile(file, (r) => {
      if (r.time !== undefined && r.time < first) first = r.time;
    });
    checked.push({ file, sha256, first, records, i });
  }
  return checked.sort((a, b) => a.first - b.first || a.i - b.i);
}

export async function ingestMasscan(ctx: CliContext, files: string[], opts: { profile?: string }): Promise<void> {
  if (files.includes('-')) throw usageError('masscan output is read from files, not standard input', 'write it to a file (masscan -oX FILE) and give its path');
  const checked = await checkMasscanFiles(files);
  const { store, profileId, ruleDeps, owner } = await openImportContext(ctx, opts.profile);
  const total = { hosts: 0, ports: 0, appeared: 0, changed: 0, reappeared: 0, stable: 0 };
  for (const [i, { file, sha256 }] of checked.entries()) {
    const label = checked.length > 1 ? `[${i + 1}/${checked.length}] ${file}: ` : `${file}: `;
    try {
      const hosts = new MasscanHosts();
      const read = await readMasscanFile(file, (r) => hosts.add(r));
      if (read.sha256 !== sha256) throw new PlumError('conflict', `${file} changed while it was being imported`, { hint: 'run the same command again' });
      const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t * 1000).toISOString());
      // One import job per view (ports with banners, ports without: core/masscan/hosts.ts), each recognised by
      // its own digest; a file of no port is still recorded, as one empty import.
      const views = hosts.views();
      let summary: IngestSummary | undefined;
      for (const view of views.length ? views : ([MASSCAN_VIEW] as const)) {
        const part = await ingestScanResult(
          store,
          {
            // No scan info and no scope: masscan lists only what answered, so nothing is `gone`.
            scan: { run: { startedAt: iso(hosts.first), endedAt: iso(hosts.last), finished: true }, hosts: hosts.toHosts(undefined, view) },
            source: file,
            profileId,
            owner,
            view,
            resultSha256: view === MASSCAN_BANNERS_VIEW ? sha256 : createHash('sha256').update(`${sha256} ${view}`).digest('hex'),
          },
          ruleDeps,
        );
        summary = summary ? addSummaries(summary, part) : part;
      }
      // A host with ports of both views was counted by both imports.
      summary = { ...summary!, hosts: hosts.size, hostsUp: hosts.size };
      info(`plum: ${label}${formatIngestSummary(summary)}`);
      for (const k of ['hosts', 'ports', 'appeared', 'changed', 'reappeared', 'stable'] as const) total[k] += summary[k];
    } catch (e) {
      throw laterFileFailed(e, file, i, checked.length);
    }
  }
  if (checked.length > 1) {
    info(
      `plum: imported ${checked.length} masscan files in scan order: ${total.hosts} hosts, ${total.ports} open ports, ${total.appeared} appeared, ` +
        `${total.changed} changed, ${total.reappeared} reappeared, ${total.stable} stable`,
    );
  }
}
