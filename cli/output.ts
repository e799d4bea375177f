import { Option } from 'commander';

export type OutputFormat = 'table' | 'json' | 'ndjson' | 'csv';

/** `--format` for listing commands: json prints only JSON on stdout (messages go to stderr). */
export function formatOption(choices: OutputFormat[] = ['table', 'json'], fallback: OutputFormat = 'table'): Option {
  return new Option('--format <format>', 'output format').choices(choices).default(fallback);
}

/**
 * Writes to standard output and, when the reader is slower than the writer
 * (a pipe holds 64 KB), waits until the queued data has drained: a streaming
 * command then runs at its reader's pace with bounded memory. Also resolves
 * when standard output closes or fails (a reader that went away: cli/main.ts
 * ends the command quietly on EPIPE).
 */
export async function writeOut(text: string | Uint8Array): Promise<void> {
  if (process.stdout.write(text)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      process.stdout.off('drain', done).off('close', done).off('error', done);
      resolve();
    };
    process.stdout.on('drain', done).on('close', done).on('error', done);
  });
}

/** Resolves when everything written so far to `stream` has been handed to the system (or the stream failed or closed). */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || stream.writableEnded || stream.writableLength === 0) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      stream.off('close', done).off('error', done);
      resolve();
    };
    stream.on('close', done).on('error', done);
    // Writes complete in order: this empty write's callback runs after every earlier one.
    stream.write('', () => done());
  });
}

/**
 * Waits until standard output and standard error have written everything
 * queued. process.exit() does not wait for writes to a pipe that is full (its
 * reader is slower than the command): without this, output piped to another
 * program is cut, typically at 64 KB.
 */
export async function flushStdio(): Promise<void> {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printJsonLine(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** Human messages (progress, summaries) go to stderr, never mixed with data. */
export function info(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** A plain aligned text table; the last column is never padded. */
export function renderTable(rows: Record<string, unknown>[], columns: string[], headers: string[] = columns): string {
  const cells = rows.map((r) =>
    columns.map((c) => {
      const v = r[c];
      return v === null || v === undefined ? '' : Array.isArray(v) ? v.join(',') : String(v);
    }),
  );
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)));
  const fmt = (row: string[]) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [fmt(headers.map((h) => h.toUpperCase())), ...cells.map(fmt)].join('\n') + '\n';
}

export function printTable(rows: Record<string, unknown>[], columns: string[], headers?: string[]): void {
  if (rows.length === 0) {
    info('(nothing to show)');
    return;
  }
  process.stdout.write(renderTable(rows, columns, headers));
}
