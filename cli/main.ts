import { Command, CommanderError } from 'commander';
import { loadConfig, type PlumConfig } from '../core/config.ts';
import { PlumError, toPlumError } from '../core/errors.ts';
import { createLogger } from '../core/log.ts';
import { flushStdio } from './output.ts';
import type { CliContext } from './context.ts';
import { registerCommands } from './commands/index.ts';
import { PLUM_VERSION } from '../core/version.ts';

/** Registers the commands a program offers: every command (`plum`), or only the agent (the single-file agent). */
export type RegisterCommands = (program: Command, ctx: CliContext, args: string[]) => Promise<void>;

export async function buildProgram(ctx: CliContext, args: string[] = [], register: RegisterCommands = registerCommands): Promise<Command> {
  const program = new Command('plum')
    .description('Perimeter exposure monitor: scan, fingerprint, remember, qualify, search and report.')
    .version(PLUM_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(`plum: ${str.replace(/^error: /, '')}`) })
    .exitOverride();
  await register(program, ctx, args);
  // Subcommands inherit the exit override so usage errors reach our handler.
  const propagate = (cmd: Command) => {
    cmd.exitOverride();
    cmd.commands.forEach(propagate);
  };
  propagate(program);
  return program;
}

export async function main(argv: string[], register: RegisterCommands = registerCommands): Promise<void> {
  const closers: Array<() => Promise<void> | void> = [];
  let config: PlumConfig;
  try {
    config = loadConfig(process.env);
  } catch (e) {
    const err = toPlumError(e);
    process.stderr.write(`plum: ${err.oneLine()}\n`);
    await flushStdio();
    process.exit(err.exitCode);
  }
  const ctx: CliContext = {
    config,
    log: createLogger(config.PLUM_LOG_LEVEL),
    onClose: (fn) => closers.push(fn),
  };
  let exitCode = 0;
  // `plum history --format json | head` closes the pipe early: not an error. Stop quietly (exit 0),
  // closing the store first, instead of dying on an unhandled EPIPE with a stack trace.
  let piped = false;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (piped) return; // later errors of a closed pipe
    if (e.code !== 'EPIPE') throw e;
    piped = true;
    void Promise.allSettled([...closers].reverse().map((close) => close())).then(() => process.exit(0));
  });
  try {
    await (await buildProgram(ctx, argv.slice(2), register)).parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are not errors; commander already printed the message otherwise.
      exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : 2;
    } else {
      const err = toPlumError(e);
      process.stderr.write(`plum: ${err.oneLine()}\n`);
      if (err.code === 'internal' && process.env.PLUM_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
      exitCode = err.exitCode;
    }
  } finally {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch {
        // Closing must never mask the command's own outcome.
      }
    }
  }
  if (process.exitCode && exitCode === 0) exitCode = Number(process.exitCode);
  // Output queued for a slow reader (a pipe) is written before the process ends.
  await flushStdio();
  process.exit(exitCode);
}

export { PlumError };
