import { relations, sql } from 'drizzle-orm';
import { pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { agentTokens } from './agent-tokens.ts';
import { tstz } from './columns.ts';

/** A scanning agent identity (id `agent_…`); its tokens authenticate it. */
export const agents = pgTable(
  'agents',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    labels: text('labels')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    note: text('note'),
    /** Reported by the agent itself on heartbeat. */
    version: text('version'),
    lastHeartbeatAt: tstz('last_heartbeat_at'),
    /** The job the agent said it is running at its last heartbeat (null when idle). */
    currentJobId: text('current_job_id'),
    createdAt: tstz('created_at').notNull().defaultNow(),
    /** A disabled agent's tokens are refused. */
    disabledAt: tstz('disabled_at'),
  },
  (t) => [uniqueIndex('agents_name_key').on(t.name)],
);

export const agentsRelations = relations(agents, ({ many }) => ({
  tokens: many(agentTokens),
}));

export type AgentRow = typeof agents.$inferSelect;
export type NewAgentRow = typeof agents.$inferInsert;
