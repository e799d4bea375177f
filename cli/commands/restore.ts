import type { Command } from 'commander';
import { restoreEmbedded } from '../../store/backup.ts';
import type { CliContext } from '../context.ts';
import { info } from '../output.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('restore')
    .argument('<file>', 'an archive written by `plum backup`')
    .option('--force', 'replace the database of an existing home (the current one is kept beside it as db.replaced-TIME)')
    .description('restore the embedded database of $PLUM_HOME from FILE and migrate it; refuses a home in use (a server: pg_restore)')
    .action(async (file: string, opts: { force?: boolean }) => {
      const r = await restoreEmbedded(ctx.config, file, { force: opts.force === true, log: ctx.log });
      const migrated = r.migrated > 0 ? `, migrated ${r.migrated} step${r.migrated === 1 ? '' : 's'} to this version` : '';
      info(`plum: restored ${file} into ${ctx.config.home} (schema ${r.schema.applied}${migrated})`);
      if (r.replacedKeptAt) info(`plum: the database it replaced is kept at ${r.replacedKeptAt}; remove it once the restore is checked`);
    });
}
