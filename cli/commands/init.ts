import type { Command } from 'commander';
import { openStore, pgliteDir, type Store } from '../../store/index.ts';
import type { CliContext } from '../context.ts';
import { info } from '../output.ts';

/** Opens the store for a command and closes it when the command ends. */
/**
 * Opens the store for a command. `share`: a long-running process (scheduler)
 * serves the embedded database over $PLUM_HOME/plum.sock so other commands keep working.
 */
export async function openCommandStore(ctx: CliContext, opts: { share?: boolean } = {}): Promise<Store> {
  const store = await openStore(ctx.config, { log: ctx.log, ...(opts.share ? { share: true } : {}) });
  ctx.onClose(() => store.close());
  return store;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('init')
    .description('create $PLUM_HOME and the database (or upgrade it in place) by applying pending migrations')
    .action(async () => {
      const store = await openCommandStore(ctx);
      const [m] = await store.query<{ n: number }>('select count(*) as n from drizzle.__drizzle_migrations');
      const where = store.kind === 'postgres'
        ? 'the PostgreSQL database of PLUM_DATABASE_URL'
        : `the embedded database in ${pgliteDir(ctx.config)}`;
      info(`plum: ${where} is ready (${m?.n ?? 0} migrations applied)`);
    });
}
