import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PlumError, usageError } from '../../core/errors.ts';
import { legacyHostOf } from '../../core/nmap2json/map.ts';
import { listingRounds, readNmap2jsonText, scanTimeOf } from '../../core/nmap2json/read.ts';
import { formatIngestSummary, ingestScanResult, type IngestSummary } from '../../store/ingest.ts';
import type { CliContext } from '../context.ts';
import { info } from '../output.ts';
import { laterFileFailed, openImportContext } from '../import-context.ts';

/*
 * `plum ingest --format nmap2json FILE|DIR…`: the predecessor's stored results
 * and search exports into the history. Every file is read and checked before
 * anything is written (a bad document in the last file leaves nothing behind);
 * then files are imported in the order of their first scan, each one as an
 * import job recognised by the digest of its bytes (a repeated import changes
 * nothing). The predecessor's documents do not say which ports and hosts were
 * scanned without answering, so the import never passes a scope: nothing can
 * be declared gone from them (store/ingest.ts needs a coverage for that).
 */

const JSON_FILE = /\.(json|ndjson|jsonl)$/i;

/** The files named: files as given, directories' *.json/*.ndjson/*.jsonl files (recursively, sorted). */
export function nmap2jsonFiles(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new PlumError('not_found', `no such file or directory: ${p}`, { hint: 'check the path' });
      throw new PlumError('invalid_input', `cannot read ${p}: ${(e as Error).message}`, { hint: 'check the permissions' });
    }
    if (st.isDirectory()) {
      const found = (fs.readdirSync(p, { recursive: true }) as string[])
        .filter((f) => JSON_FILE.test(f))
        .sort()
        .map((f) => path.join(p, f))
        .filter((f) => fs.statSync(f).isFile());
      if (found.length === 0)
        throw new PlumError('invalid_input', `${p} holds no .json, .ndjson or .jsonl file`, { hint: "give the directory of the predecessor's stored results" });
      out.push(...found);
    } else if (st.isFile()) out.push(p);
    else throw new PlumError('invalid_input', `${p} is not a regular file or a directory`, { hint: 'list the files themselves' });
  }
  return out;
}

interface CheckedFile {
  file: string;
  sha256: string;
  first: number;
  hosts: number;
}

function readFile(file: string): { text: string; sha256: string } {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new PlumError('invalid_input', `cannot read ${file}: ${(e as Error).message}`, { hint: 'check the permissions' });
  }
  return { text: bytes.toString('utf8'), sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** Reads and checks every file (documents only: mapping waits for the import), in the order of their first scan. */
export function checkNmap2jsonFiles(files: string[]): CheckedFile[] {
  const checked = files.map((file, i) => {
    const { text, sha256 } = readFile(file);
    const docs = readNmap2jsonText(text, file);
    const times = docs.map((d) => scanTimeOf(d.doc)).filter((t): t is number => t !== undefined);
    return { file, sha256, first: times.length ? Math.min(...times) : Number.POSITIVE_INFINITY, hosts: docs.length, i };
  });
  return checked.sort((a, b) => a.first - b.first || a.i - b.i);
}

export async function ingestNmap2json(ctx: CliContext, paths: string[], opts: { profile?: string }): Promise<void> {
  if (paths.includes('-'))
    throw usageError('--format nmap2json reads files and directories, not standard input', 'write the documents to a file and give its path');
  const files = checkNmap2jsonFiles(nmap2jsonFiles(paths));
  const { store, profileId, ruleDeps, owner } = await openImportContext(ctx, opts.profile);
  const total = { files: 0, hosts: 0, ports: 0, appeared: 0, changed: 0, reappeared: 0, stable: 0, already: 0 };
  for (const [i, { file, sha256 }] of files.entries()) {
    const label = files.length > 1 ? `[${i + 1}/${files.length}] ${file}: ` : `${file}: `;
    try {
      // Read again: the check above kept no documents (a directory of years of results need not fit in memory).
      const { text, sha256: now } = readFile(file);
      if (now !== sha256) throw new PlumError('conflict', `${file} changed while it was being imported`, { hint: 'run the same command again' });
      const docs = readNmap2jsonText(text, file);
      const rounds = listingRounds(docs.map((d) => ({ host: legacyHostOf(d.doc), time: scanTimeOf(d.doc) })));
      for (const [k, hosts] of rounds.entries()) {
        // A further listing of an address (search exports) is its own import job, with its own digest.
        const digest =
          k === 0
            ? sha256
            : createHash('sha256')
                .update(`${sha256} listing ${k + 1}`)
                .digest('hex');
        const summary: IngestSummary = await ingestScanResult(
          store,
          {
            // No scan info and no scope: the documents cannot tell what was covered, so nothing is `gone`.
            scan: { run: {}, hosts },
            source: file,
            profileId,
            resultSha256: digest,
            owner,
          },
          ruleDeps,
        );
        info(`plum: ${label}${rounds.length > 1 ? `(listing ${k + 1} of ${rounds.length}) ` : ''}${formatIngestSummary(summary)}`);
        total.hosts += summary.hosts;
        total.ports += summary.ports;
        total.appeared += summary.appeared;
        total.changed += summary.changed;
        total.reappeared += summary.reappeared;
        total.stable += summary.stable;
        total.already += summary.alreadyIngested;
      }
      total.files++;
    } catch (e) {
      throw laterFileFailed(e, file, i, files.length);
    }
  }
  if (files.length > 1) {
    info(
      `plum: imported ${total.files} nmap2json files in scan order: ${total.hosts} hosts, ${total.ports} open ports, ${total.appeared} appeared, ` +
        `${total.changed} changed, ${total.reappeared} reappeared, ${total.stable} stable${total.already ? `, ${total.already} already ingested` : ''}`,
    );
  }
}
