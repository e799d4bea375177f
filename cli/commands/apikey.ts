import { Option, type Command } from 'commander';
import { API_KEY_ROLES, createApiKey, listApiKeys, parseRole, revokeApiKey } from '../../store/repos/apikeys.ts';
import type { CliContext } from '../context.ts';
import { formatOption, info, printJson, printTable } from '../output.ts';
import { openCommandStore } from './init.ts';

export function register(program: Command, ctx: CliContext): void {
  const cmd = program.command('apikey').description('manage HTTP API keys (stored hashed; roles viewer, operator, admin)');

  cmd
    .command('create')
    .description('create a key and print it alone on standard output (it is not shown again)')
    .addOption(
      new Option('--role <role>', 'viewer reads; operator also manages targets/profiles and starts investigations; admin also manages keys and agents')
        .choices([...API_KEY_ROLES])
        .makeOptionMandatory(),
    )
    .option('--name <name>', 'what the key is for (shown in listings)')
    .action(async (opts: { role: string; name?: string }) => {
      const role = parseRole(opts.role);
      const store = await openCommandStore(ctx, { create: true });
      const { key, info: k } = await createApiKey(store, { role, name: opts.name, createdBy: 'cli' });
      process.stdout.write(`${key}\n`);
      info(`plum: created ${k.role} key ${k.id} (${k.name}); send it as "Authorization: Bearer <key>"`);
    });

  cmd
    .command('list')
    .description('list keys (never the secrets)')
    .option('--all', 'include revoked keys')
    .addOption(formatOption())
    .action(async (opts: { all?: boolean; format: string }) => {
      const store = await openCommandStore(ctx);
      const keys = await listApiKeys(store, { includeRevoked: Boolean(opts.all) });
      if (opts.format === 'json') printJson(keys);
      else printTable(keys as unknown as Record<string, unknown>[], ['id', 'role', 'name', 'prefix', 'createdAt', 'lastUsedAt', 'revokedAt']);
    });

  cmd
    .command('revoke')
    .description('revoke a key (requests with it get 401 from then on)')
    .argument('<id>', 'key id (key_…)')
    .action(async (id: string) => {
      const store = await openCommandStore(ctx);
      const k = await revokeApiKey(store, id);
      info(`plum: key ${k.id} revoked at ${k.revokedAt}`);
    });
}
