import type { Command } from 'commander';
import { backupEmbedded } from '../../store/backup.ts';
import type { CliContext } from '../context.ts';
import { info } from '../output.ts';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('backup')
    .argument('<file>', "the archive to write (gzip'd tar); written beside it, then renamed into place")
    .description('copy the embedded database into FILE, consistently even while `plum serve` holds it (a server: pg_dump)')
    .action(async (file: string) => {
      const r = await backupEmbedded(ctx.config, file, ctx.log);
      const mb = (r.bytes / 1_048_576).toFixed(1);
      info(
        `plum: backed up the embedded database in ${ctx.config.home} (schema ${r.schema.applied}${r.throughHolder ? ', through the running plum process' : ''}) to ${r.file} (${mb} MB)`,
      );
    });
}
