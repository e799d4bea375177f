import fs from 'node:fs';
import type { Command } from 'commander';
import { PlumError } from '../../core/errors.ts';
import { openStore, pgliteDir, type Store } from '../../store/index.ts';
import { appliedMigrationCount } from '../../store/schema-version.ts';
import type { CliContext } from '../context.ts';
import { recoverInterruptedRuns } from '../../workers/run-owner.ts';
import { plumCommand } from '../invocation.ts';
import { info } from '../output.ts';

export interface CommandStoreOptions {
  /** A long-running process (scheduler) serves the embedded database over $PLUM_HOME/plum.sock so other commands keep working. */
  share?: boolean;
  /**
   * The command stores something of its own (a target, a scan), so it may create the embedded database.
   * Without it, a missing $PLUM_HOME is an error: a read run in the wrong directory must not leave an
   * empty `.plum` behind and answer "nothing to show".
   */
  create?: boolean;
}

/** Opens the store for a command; it is closed when the command ends. */
export async function openCommandStore(ctx: CliContext, opts: CommandStoreOptions = {}): Promise<Store> {
  if (!opts.create) requireHome(ctx);
  const store = await openStore(ctx.config, { log: ctx.log, ...(opts.share ? { share: true } : {}) });
  ctx.onClose(() => store.close());
  await recoverRuns(ctx, store);
  return store;
}

function requireHome(ctx: CliContext): void {
  if (ctx.config.PLUM_DATABASE_URL || fs.existsSync(pgliteDir(ctx.config))) return;
  const cmd = plumCommand();
  throw new PlumError('not_found', `no Plum home at ${ctx.config.home}`, {
    hint: `run it where you ran \`${cmd} init\`, set PLUM_HOME to that home's path, or create one here with \`${cmd} init\``,
  });
}

/** Runs left active by a process that is gone (killed, crashed) end as interrupted when any plum command opens the store. */
export async function recoverRuns(ctx: CliContext, store: Store): Promise<void> {
  try {
    for (const id of await recoverInterruptedRuns(store, ctx.log))
      info(`plum: run ${id} was left running by a process that is gone: marked as interrupted (cancelled)`);
  } catch (e) {
    // Recovery must never stop the command itself (e.g. a read-only role).
    ctx.log.warn({ err: (e as Error).message }, 'recovering interrupted runs failed');
  }
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('init')
    .description('create $PLUM_HOME and the database (or upgrade it in place) by applying pending migrations')
    .action(async () => {
      const store = await openCommandStore(ctx, { create: true });
      const applied = await appliedMigrationCount(store);
      const where = store.kind === 'postgres' ? 'the PostgreSQL database of PLUM_DATABASE_URL' : `the embedded database in ${pgliteDir(ctx.config)}`;
      info(`plum: ${where} is ready (${applied} migrations applied)`);
    });
}
