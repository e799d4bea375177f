import type { Command } from 'commander';
import { usageError } from '../../core/errors.ts';
import { createLegacyKey } from '../../store/repos/legacy-agents.ts';
import { createAgentToken, getAgent, listAgentTokens, listAgents, revokeAgentToken } from '../../store/repos/agents.ts';
import type { CliContext } from '../context.ts';
import { formatOption, info, printJson, printTable } from '../output.ts';
import { openCommandStore } from './init.ts';

const collect = (v: string, prev: string[]) => [...prev, v];

export function register(program: Command, ctx: CliContext): void {
  const cmd = program.command('agent-token').description('manage agent tokens (each bound to one agent identity, revocable)');

  cmd
    .command('create')
    .description('issue a token for an agent (registering it when new) and print it alone on standard output')
    .option('--agent <name>', 'agent name (letters, digits, dots, dashes, underscores)')
    .option('--label <label>', 'label of a new agent (repeatable)', collect, [] as string[])
    .option('--legacy', "a key in the predecessor's 80-character format, for its agents (/bot_api, PLUM_LEGACY_BOT_API)")
    .option('--note <text>', "with --legacy: what the key is for (e.g. the agents' site)")
    .action(async (opts: { agent?: string; label: string[]; legacy?: boolean; note?: string }) => {
      if (opts.legacy) {
        if (opts.agent || opts.label.length)
          throw usageError(
            '--legacy keys belong to no named agent',
            'drop --agent and --label; each predecessor agent registers itself by its UID on its first beacon',
          );
        const store = await openCommandStore(ctx, { create: true });
        const { id, key } = await createLegacyKey(store, opts.note);
        process.stdout.write(`${key}\n`);
        info(
          `plum: legacy agent key ${id} created; give it to the predecessor's agents as AGENT_KEY${ctx.config.PLUM_LEGACY_BOT_API ? '' : ' (and set PLUM_LEGACY_BOT_API=1 on the server)'}`,
        );
        return;
      }
      if (!opts.agent)
        throw usageError("required option '--agent <name>' not specified", "name the agent, or create a key for the predecessor's agents with --legacy");
      const store = await openCommandStore(ctx, { create: true });
      const { token, agent, info: t } = await createAgentToken(store, { agent: opts.agent, labels: opts.label });
      process.stdout.write(`${token}\n`);
      info(`plum: token ${t.id} issued for agent ${agent.name} (${agent.id})`);
    });

  cmd
    .command('list')
    .description('list agents and their tokens (never the secrets)')
    .option('--agent <name>', 'only this agent')
    .option('--all', 'include revoked tokens')
    .addOption(formatOption())
    .action(async (opts: { agent?: string; all?: boolean; format: string }) => {
      const store = await openCommandStore(ctx);
      const agents = opts.agent ? [await getAgent(store, opts.agent)] : await listAgents(store);
      const tokens = await listAgentTokens(store, { agentId: opts.agent ? agents[0]!.id : undefined, includeRevoked: Boolean(opts.all) });
      const byId = new Map(agents.map((a) => [a.id, a]));
      if (opts.format === 'json') {
        printJson(agents.map((a) => ({ ...a, tokens: tokens.filter((t) => t.agentId === a.id) })));
        return;
      }
      printTable(
        tokens.map((t) => ({ ...t, agent: byId.get(t.agentId)?.name ?? t.agentId })),
        ['id', 'agent', 'prefix', 'createdAt', 'lastUsedAt', 'revokedAt'],
      );
    });

  cmd
    .command('revoke')
    .description('revoke a token (the agent gets 401 from then on)')
    .argument('<id>', 'token id (atok_…)')
    .action(async (id: string) => {
      const store = await openCommandStore(ctx);
      const t = await revokeAgentToken(store, id);
      info(`plum: agent token ${t.id} revoked at ${t.revokedAt}`);
    });
}
