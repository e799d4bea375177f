import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import shellQuote from 'shell-quote';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../core/config.ts';
import { silentLogger } from '../core/log.ts';
import { commandEntries } from './commands/index.ts';

/**
 * Every `plum` command the documentation shows is checked against the real
 * command definitions, so the docs cannot drift from the CLI: commands in
 * shell blocks are parsed exactly as `plum` would parse them (command path,
 * options, required options, arguments), with every action replaced by a
 * recorder so nothing runs; inline synopses (`plum profile add NAME --ports …
 * [--every …]`) must name an existing command and only options it has.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const docFiles = [
  'README.md',
  ...fs
    .readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
  'deploy/README.md',
  'rules/README.md',
  'nse/README.md',
].filter((f) => fs.existsSync(path.join(root, f)));

interface DocCommand {
  file: string;
  line: number;
  text: string;
}

/** `plum …` commands in ```sh blocks (chains split on && ; |), and inline `plum …` spans. */
function collect(): { runnable: DocCommand[]; synopses: DocCommand[] } {
  const runnable: DocCommand[] = [];
  const synopses: DocCommand[] = [];
  for (const file of docFiles) {
    const lines = fs.readFileSync(path.join(root, file), 'utf8').split('\n');
    let inShell = false;
    lines.forEach((raw, i) => {
      const fence = raw.trim().match(/^```(\w*)/);
      if (fence) {
        inShell = !inShell && ['sh', 'bash', 'shell', 'console'].includes(fence[1]!);
        return;
      }
      if (inShell) {
        const code = raw.replace(/\s#\s.*$/, '').trim();
        for (const part of code.split(/\s*(?:&&|;|\|)\s*/)) {
          const m = part.match(/^(?:npx\s+)?plum\s+(.*)$/);
          if (m) runnable.push({ file, line: i + 1, text: m[1]!.trim() });
        }
        return;
      }
      for (const span of raw.matchAll(/`((?:npx\s+)?plum\s[^`]+)`/g)) {
        for (const part of span[1]!.split(/\s*(?:&&|;)\s*/)) {
          const text = part.replace(/^(?:npx\s+)?plum\s+/, '').trim();
          if (text !== part.trim()) synopses.push({ file, line: i + 1, text });
        }
      }
    });
  }
  return { runnable, synopses };
}

const ctx = { config: loadConfig({}), log: silentLogger, onClose: () => {} };

async function programFor(name: string): Promise<Command> {
  const entry = commandEntries.find((e) => e.name === name);
  const program = new Command('plum').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  if (!entry) return program;
  (await entry.load()).register(program, ctx);
  const stub = (cmd: Command) => {
    cmd.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
    // Commands with an action get a recorder in its place; groups keep none.
    if ((cmd as unknown as { _actionHandler?: unknown })._actionHandler) cmd.action(() => {});
    cmd.commands.forEach(stub);
  };
  program.commands.forEach(stub);
  return program;
}

/**
 * The deepest commands a synopsis names, following its leading words; a word
 * of alternatives (`list|rm|run`) names several.
 */
function resolve(program: Command, words: string[]): { cmds: Command[]; rest: string[] } {
  let cmds = [program];
  let i = 0;
  for (; i < words.length; i++) {
    const alternatives = words[i]!.split('|');
    const next = cmds.flatMap((cmd) => cmd.commands.filter((c) => alternatives.includes(c.name()) || c.aliases().some((a) => alternatives.includes(a))));
    if (next.length === 0) break;
    cmds = next;
  }
  return { cmds, rest: words.slice(i) };
}

/** A span with no placeholder (`NAME`, `FILE.xml`), alternative, optional part or ellipsis is a whole command. */
function isConcrete(text: string): boolean {
  return !/[[\]|…<>]|\.\.\.|\b[A-Z][A-Z0-9_]+\b/.test(text);
}

function optionNames(cmd: Command): Set<string> {
  const names = new Set<string>(['--help', '-h']);
  for (let c: Command | null = cmd; c; c = c.parent) {
    for (const o of c.options) {
      if (o.long) names.add(o.long);
      if (o.short) names.add(o.short);
      if (o.negate && o.long) names.add(o.long);
    }
  }
  return names;
}

const { runnable, synopses } = collect();
const commandPaths = new Set<string>();
for (const entry of commandEntries) {
  const program = await programFor(entry.name);
  const walk = (cmd: Command, prefix: string) => {
    const p = `${prefix}${cmd.name()}`;
    commandPaths.add(p);
    cmd.commands.forEach((c) => walk(c, `${p} `));
  };
  program.commands.forEach((c) => walk(c, ''));
}
/** Whether a span gives a command an argument (a word that is neither an option nor an option's value). */
async function hasArgument(text: string): Promise<boolean> {
  const words = text.split(/\s+/);
  const program = await programFor(words[0]!);
  const { cmds, rest } = resolve(program, words);
  if (program.commands.length === 0) return false;
  const options = cmds[0]!.options;
  for (let i = 0; i < rest.length; i++) {
    const w = rest[i]!;
    if (!w.startsWith('-')) return true;
    const o = options.find((x) => x.long === w.split('=')[0] || x.short === w);
    if (o && (o.required || o.optional) && !w.includes('=')) i++;
  }
  return false;
}

/**
 * Inline spans with nothing to stand for (no placeholder or optional part) that
 * give a command an argument are run as commands; `plum ingest` or
 * `plum agent --check` in a sentence name a command or a mode, and only their
 * options are checked.
 */
const concreteSynopses: DocCommand[] = [];
for (const c of synopses) {
  if (/^[a-z]/.test(c.text) && isConcrete(c.text) && !commandPaths.has(c.text) && (await hasArgument(c.text))) concreteSynopses.push(c);
}

describe('documented commands', () => {
  it('finds commands to check in the README and docs/', () => {
    expect(runnable.length).toBeGreaterThan(10);
    expect(synopses.length).toBeGreaterThan(40);
  });

  it.each([...runnable, ...concreteSynopses].map((c) => [`${c.file}:${c.line} plum ${c.text}`, c] as const))(
    '%s parses as the CLI parses it',
    async (_label, c) => {
      // The command's own words: up to the first shell operator (`&`, `>`, `|`...).
      // A glob (`scans/*.xml`) is a word the shell expands.
      const parsed = shellQuote.parse(c.text).map((w) => (typeof w === 'object' && 'op' in w && w.op === 'glob' ? w.pattern : w));
      const end = parsed.findIndex((w) => typeof w !== 'string');
      const words = (end < 0 ? parsed : parsed.slice(0, end)) as string[];
      const program = await programFor(words[0]!);
      expect(program.commands.length, `unknown command "${words[0]}"`).toBe(1);
      try {
        await program.parseAsync(['node', 'plum', ...words]);
      } catch (e) {
        if (e instanceof CommanderError && e.code === 'commander.helpDisplayed') return;
        throw new Error(`${c.file}:${c.line}: plum ${c.text}: ${(e as Error).message}`);
      }
    },
  );

  it.each(synopses.map((c) => [`${c.file}:${c.line} plum ${c.text}`, c] as const))('%s names a command and its options', async (_label, c) => {
    const words = c.text.split(/\s+/);
    if (!/^[a-z]/.test(words[0]!)) return; // prose such as `plum … | head`
    const first = words[0]!.split('|')[0]!;
    const program = await programFor(first);
    expect(program.commands.length, `${c.file}:${c.line}: unknown command "${first}"`).toBe(1);
    const { cmds, rest } = resolve(program, words);
    const known = new Set(cmds.flatMap((cmd) => [...optionNames(cmd), ...cmd.commands.flatMap((s) => [...optionNames(s)])]));
    for (const w of rest) {
      for (const flag of w.matchAll(/(?:^|[[(|])(--?[a-zA-Z][\w-]*)/g)) {
        expect(known.has(flag[1]!), `${c.file}:${c.line}: plum ${cmds.map((x) => x.name()).join('|')} has no option ${flag[1]}`).toBe(true);
      }
    }
  });
});
