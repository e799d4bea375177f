import { relations } from 'drizzle-orm';
import { index, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { agents } from './agents.ts';
import { tstz } from './columns.ts';

/**
 * Agent tokens (id `atok_…`): distinct from API keys, each bound to one agent
 * identity and revocable on its own. Only the SHA-256 of the token is stored.
 */
export const agentTokens = pgTable(
  'agent_tokens',
  {
    id: text('id').primaryKey(),
    agentId: text('agent_id')
      .notNull()
      .references(() => agents.id, { onDelete: 'cascade' }),
    prefix: text('prefix').notNull(),
    hash: text('hash').notNull(),
    createdAt: tstz('created_at').notNull().defaultNow(),
    lastUsedAt: tstz('last_used_at'),
    revokedAt: tstz('revoked_at'),
  },
  (t) => [uniqueIndex('agent_tokens_hash_key').on(t.hash), index('agent_tokens_agent_idx').on(t.agentId)],
);

export const agentTokensRelations = relations(agentTokens, ({ one }) => ({
  agent: one(agents, { fields: [agentTokens.agentId], references: [agents.id] }),
}));

export type AgentTokenRow = typeof agentTokens.$inferSelect;
