import { statSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { PlumError, usageError } from '../../core/errors.ts';
import { nmap2jsonStream, type Nmap2jsonRelease } from '../../core/nmap/compat.ts';
import { parseNmapStream } from '../../core/nmap/parse.ts';
import { openXmlFile } from '../../core/nmap/read-file.ts';
import type { ParsedHost } from '../../core/nmap/types.ts';
import { loadVolatileList } from '../../core/nmap/volatile.ts';
import type { CliContext } from '../context.ts';
import { printJson, writeOut } from '../output.ts';

/*
 * `plum parse`: nmap XML → JSON lines on stdout (nothing is stored). Messages
 * and the final error, if any, go to stderr; a truncated or invalid file still
 * prints every complete host first, then exits 1.
 */

/** The predecessor's formats `--compat` reproduces: its current release by default, or an older one's hashes. */
const COMPAT_RELEASE = { nmap2json: '2610', 'nmap2json@2610': '2610', 'nmap2json@2605': '2605' } as const satisfies Record<string, Nmap2jsonRelease>;
type CompatFormat = keyof typeof COMPAT_RELEASE;
const COMPAT_FORMATS = Object.keys(COMPAT_RELEASE);

interface ParseOpts {
  hosts?: boolean;
  validate?: boolean;
  compat?: CompatFormat;
  openOnly?: boolean;
  volatile?: string;
  format: 'table' | 'json';
}

function inputOf(file: string): { stream: AsyncIterable<Buffer | string>; size?: number; counter: { bytes: number } } {
  const counter = { bytes: 0 };
  let source: AsyncIterable<Buffer | string>;
  let size: number | undefined;
  if (file === '-') {
    source = process.stdin as AsyncIterable<Buffer>;
  } else {
    try {
      const st = statSync(file);
      if (st.isDirectory()) throw new PlumError('invalid_input', `${file} is a directory`, { hint: 'give an nmap XML file (nmap -oX FILE)' });
      size = st.size;
    } catch (e) {
      if (e instanceof PlumError) throw e;
      throw new PlumError('not_found', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, {
        hint: 'check the path, or use - to read standard input',
      });
    }
    source = openXmlFile(file);
  }
  const stream = {
    async *[Symbol.asyncIterator]() {
      for await (const chunk of source) {
        counter.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
        yield chunk;
      }
    },
  };
  return { stream, size, counter };
}

/** Progress on stderr for big files when a person is watching. */
function startProgress(size: number | undefined, counter: { bytes: number }): () => void {
  if (!process.stderr.isTTY || !size || size < 16 * 1024 * 1024) return () => {};
  const started = Date.now();
  const timer = setInterval(() => {
    const pct = Math.min(100, (100 * counter.bytes) / size).toFixed(0);
    const mbs = counter.bytes / 1048576 / Math.max(0.001, (Date.now() - started) / 1000);
    process.stderr.write(`\rparsing: ${pct}% (${mbs.toFixed(1)} MB/s)`);
  }, 500);
  timer.unref();
  return () => {
    clearInterval(timer);
    process.stderr.write('\r\x1b[K');
  };
}

/** One output line; waits while a slow reader's pipe is full so a large file is not buffered whole in memory. */
function write(line: string): Promise<void> {
  return writeOut(`${line}\n`);
}

function hostLine(h: ParsedHost): string {
  return JSON.stringify({
    ip: h.ip,
    status: h.status,
    status_reason: h.statusReason,
    started_at: h.startedAt ?? null,
    ended_at: h.endedAt ?? null,
    timed_out: h.timedOut,
    hsh256: h.hsh256,
    fp_version: h.fpVersion,
    addresses: h.addresses,
    hostnames: h.hostnames,
    ports: h.ports.map((p) => ({ protocol: p.protocol, port: p.port, state: p.state, hsh256: p.hsh256 })),
    doc: h.doc,
  });
}

async function runCompat(file: string, opts: ParseOpts): Promise<void> {
  const { stream, size, counter } = inputOf(file);
  const stop = startProgress(size, counter);
  let error: PlumError | undefined;
  try {
    const release = COMPAT_RELEASE[opts.compat ?? 'nmap2json'];
    for await (const h of nmap2jsonStream(stream, { openOnly: opts.openOnly, release, onError: (e) => (error = e) })) await write(h.json);
  } finally {
    stop();
  }
  if (error) throw error;
}

interface Summary {
  file: string;
  scanner: string;
  version: string;
  args: string;
  started_at: string | null;
  ended_at: string | null;
  finished: boolean;
  hosts: { total: number; up: number; down: number; unknown: number; timed_out: number };
  ports: { total: number; open: number; by_state: Record<string, number> };
  scripts: Record<string, number>;
  errors: string[];
}

async function runParse(file: string, opts: ParseOpts): Promise<void> {
  const volatile = opts.volatile ? loadVolatileList(opts.volatile) : undefined;
  const { stream, size, counter } = inputOf(file);
  const hosts = parseNmapStream(stream, { openOnly: opts.openOnly, volatile, source: file });
  const summary: Summary = {
    file,
    scanner: '',
    version: '',
    args: '',
    started_at: null,
    ended_at: null,
    finished: false,
    hosts: { total: 0, up: 0, down: 0, unknown: 0, timed_out: 0 },
    ports: { total: 0, open: 0, by_state: {} },
    scripts: {},
    errors: [],
  };
  const stop = startProgress(size, counter);
  try {
    for await (const h of hosts) {
      if (opts.validate) {
        summary.hosts.total++;
        summary.hosts[h.status]++;
        if (h.timedOut) summary.hosts.timed_out++;
        for (const p of h.ports) {
          summary.ports.total++;
          if (p.state === 'open') summary.ports.open++;
          summary.ports.by_state[p.state] = (summary.ports.by_state[p.state] ?? 0) + 1;
          for (const s of p.doc.scripts) summary.scripts[s.id] = (summary.scripts[s.id] ?? 0) + 1;
        }
        for (const s of h.doc.hostscripts) summary.scripts[s.id] = (summary.scripts[s.id] ?? 0) + 1;
      } else if (opts.hosts) {
        await write(hostLine(h));
      } else {
        for (const p of h.ports) {
          await write(
            JSON.stringify({ ip: p.ip, protocol: p.protocol, port: p.port, hsh256: p.hsh256, fp_version: p.fpVersion, fields: p.fields, doc: p.doc }),
          );
        }
      }
    }
  } catch (e) {
    stop();
    if (!opts.validate || !(e instanceof PlumError)) throw e;
    summary.errors.push(e.oneLine());
  } finally {
    stop();
  }
  if (hosts.error) summary.errors.push(hosts.error.oneLine());
  if (!opts.validate) {
    if (hosts.error) throw hosts.error;
    return;
  }
  const run = hosts.run;
  Object.assign(summary, {
    scanner: run.scanner,
    version: run.version,
    args: run.args,
    started_at: run.startedAt ?? null,
    ended_at: run.endedAt ?? null,
    finished: run.finished,
  });
  if (opts.format === 'json') printJson(summary);
  else {
    const lines = [
      `file:     ${file}`,
      `nmap:     ${run.scanner} ${run.version}${run.args ? ` (${run.args})` : ''}`,
      `time:     ${summary.started_at ?? '?'} → ${summary.ended_at ?? '?'}${run.finished ? '' : ' (not finished)'}`,
      `hosts:    ${summary.hosts.total} (${summary.hosts.up} up, ${summary.hosts.down} down${summary.hosts.unknown ? `, ${summary.hosts.unknown} unknown` : ''}${summary.hosts.timed_out ? `, ${summary.hosts.timed_out} timed out` : ''})`,
      `ports:    ${summary.ports.total} (${
        Object.entries(summary.ports.by_state)
          .map(([k, v]) => `${v} ${k}`)
          .join(', ') || 'none'
      })`,
      `scripts:  ${
        Object.entries(summary.scripts)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${k} ×${v}`)
          .join(', ') || 'none'
      }`,
      `errors:   ${summary.errors.length ? summary.errors.join('; ') : 'none'}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  if (summary.errors.length) process.exitCode = 1;
}

export function register(program: Command, _ctx: CliContext): void {
  program
    .command('parse')
    .description('parse nmap XML into port documents with fingerprints (JSON lines on stdout; nothing is stored)')
    .argument('<file>', 'nmap XML file (nmap -oX), or - for standard input')
    .option('--hosts', 'print host documents instead of port documents')
    .option('--validate', 'only check the file and print a summary (hosts up/down, ports, scripts seen, errors)')
    .addOption(
      new Option(
        '--compat <format>',
        "print the predecessor's documents and hsh256 values byte for byte (nmap2json = its release 2610.1; @2605 = 2605.0 and earlier)",
      ).choices(COMPAT_FORMATS),
    )
    .option('--open-only', "keep only open ports and hosts with an open port (the agents' mode)")
    .option('--volatile <file>', 'volatile list for the fingerprint (default: rules/fingerprint/volatile.yaml)')
    .addOption(new Option('--format <format>', 'summary format for --validate').choices(['table', 'json']).default('table'))
    .addHelpText(
      'after',
      `
Output (one JSON object per line):
  default       {ip, protocol, port, hsh256, fp_version, fields, doc} per port
  --hosts       {ip, status, hsh256, fp_version, hostnames, addresses, ports, doc} per host
  --compat nmap2json   upstream host documents, serialised like Python json.dumps
                       (hsh256 as nmap2json 2610.1 computes it; nmap2json@2605 for 2605.0 and earlier)
A truncated or invalid file prints every complete host, then the error on stderr (exit 1).`,
    )
    .action(async (file: string, opts: ParseOpts) => {
      const modes = [opts.hosts, opts.validate, opts.compat].filter(Boolean).length;
      if (modes > 1) throw usageError('--hosts, --validate and --compat cannot be combined', 'pick one output mode');
      if (opts.compat && opts.volatile) throw usageError('--volatile does not apply to --compat nmap2json', 'the upstream algorithm has a fixed list');
      if (opts.compat) await runCompat(file, opts);
      else await runParse(file, opts);
      if (process.stdout.writableNeedDrain) await new Promise((r) => process.stdout.once('drain', r));
    });
}
