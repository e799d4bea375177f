import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { isPlumError, PlumError, usageError } from '../../core/errors.ts';
import { parseQuery, queryToString, renderTree, treeToJson } from '../../core/query/index.ts';
import type { CliContext } from '../context.ts';
import { formatOption, printJson, printJsonLine } from '../output.ts';

/**
 * Rebuilds one query from shell arguments. `plum search http_title.lk:"index of"`
 * reaches us as the argument `http_title.lk:index of` (the shell ate the quotes):
 * when the arguments joined with spaces do not parse, each argument holding
 * whitespace or quotes is quoted again (its value part, after field:), which
 * restores what the user meant.
 */
export function queryFromArgs(args: string[]): string {
  const joined = args.join(' ');
  try {
    parseQuery(joined);
    return joined;
  } catch (e) {
    const requoted = args.map(requoteArg).join(' ');
    if (requoted !== joined) {
      try {
        parseQuery(requoted);
        return requoted;
      } catch {
        // Report the error of what the user typed.
      }
    }
    throw e;
  }
}

const dq = (s: string) => `"${s.replace(/(["\\])/g, '\\$1')}"`;

/** An odd number of unescaped double quotes: the user opened a quote and did not close it (not the shell's doing). */
const unbalancedDoubleQuote = (s: string) => (s.replace(/\\./g, '').match(/"/g)?.length ?? 0) % 2 === 1;

function requoteArg(arg: string): string {
  // An unterminated double quote is reported with its position, never turned into a literal character.
  if (!/[\s"'()\\]/.test(arg) || unbalancedDoubleQuote(arg)) return arg;
  const m = /^([A-Za-z_][\w.]*)(:[<>]=?|[<>]=?|:)(.*)$/s.exec(arg);
  if (!m) return dq(arg);
  const [, field, op, value] = m;
  if (/^http_headval/i.test(field!)) {
    const c = value!.indexOf(':');
    if (c > 0) return `${field}${op}${value!.slice(0, c + 1)}${dq(value!.slice(c + 1))}`;
  }
  return `${field}${op}${dq(value!)}`;
}

/** The error with a caret under its position, for people (stderr). */
export function caretBlock(query: string, position: number): string {
  const line = query.replace(/[\r\n\t]/g, ' ');
  return `  ${line}\n  ${' '.repeat(Math.max(0, Math.min(position, line.length)))}^\n`;
}

function explainLine(q: string): Record<string, unknown> {
  try {
    const tree = parseQuery(q);
    return { query: q, ok: true, canonical: queryToString(tree), tree: treeToJson(tree) };
  } catch (e) {
    if (isPlumError(e) && e.code === 'syntax') {
      return { query: q, ok: false, error: e.oneLine(), position: e.details?.position ?? 0 };
    }
    throw e;
  }
}

export function register(program: Command, _ctx: CliContext): void {
  program
    .command('query')
    .description('check a search/rule query: print how it is parsed, or where it is wrong (exit 2)')
    .option('--explain', 'print the parsed tree (the default action)')
    .argument('<query...>', "the query; '-' reads one query per line on standard input and prints one JSON line each")
    .addOption(formatOption(['table', 'json']))
    .action(async (args: string[], opts: { format: 'table' | 'json' }) => {
      if (args.length === 1 && args[0] === '-') {
        if (process.stdin.isTTY) throw usageError("'-' reads queries from standard input", 'pipe queries in, one per line');
        let failed = 0;
        const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
        for await (const raw of rl) {
          const q = raw.trim();
          if (!q) continue;
          const out = explainLine(q);
          if (!out.ok) failed++;
          printJsonLine(out);
        }
        // Every line was answered; a non-zero exit still tells scripts that one failed.
        if (failed) process.exitCode = 2;
        return;
      }
      let q: string;
      try {
        q = queryFromArgs(args);
      } catch (e) {
        const joined = args.join(' ');
        if (isPlumError(e) && e.code === 'syntax') {
          if (opts.format === 'json') {
            printJson(explainLine(joined));
            process.exitCode = 2;
            return;
          }
          process.stderr.write(caretBlock(joined, Number(e.details?.position ?? 0)));
        }
        throw e;
      }
      if (opts.format === 'json') {
        printJson(explainLine(q));
        return;
      }
      const tree = parseQuery(q);
      process.stdout.write(`${queryToString(tree)}\n\n${renderTree(tree)}`);
    });
}

export { PlumError };
