import { Option } from 'commander';

export type OutputFormat = 'table' | 'json' | 'ndjson' | 'csv';

/** `--format` for listing commands: json prints only JSON on stdout (messages go to stderr). */
export function formatOption(choices: OutputFormat[] = ['table', 'json'], fallback: OutputFormat = 'table'): Option {
  return new Option('--format <format>', 'output format').choices(choices).default(fallback);
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

const csvCell = (v: unknown): string => {
  const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function toCsv(rows: Record<string, unknown>[], columns: string[]): string {
  const lines = [columns.join(',')];
  for (const row of rows) lines.push(columns.map((c) => csvCell(row[c])).join(','));
  return `${lines.join('\n')}\n`;
}

/** A plain aligned text table; the last column is never padded. */
export function renderTable(rows: Record<string, unknown>[], columns: string[], headers: string[] = columns): string {
  const cells = rows.map((r) => columns.map((c) => {
    const v = r[c];
    return v === null || v === undefined ? '' : Array.isArray(v) ? v.join(',') : String(v);
  }));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)));
  const fmt = (row: string[]) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  return [fmt(headers.map((h) => h.toUpperCase())), ...cells.map(fmt)].join('\n') + '\n';
}

export function printTable(rows: Record<string, unknown>[], columns: string[], headers?: string[]): void {
  if (rows.length === 0) {
    info('(nothing to show)');
    return;
  }
  process.stdout.write(renderTable(rows, columns, headers));
}
