import { relations } from 'drizzle-orm';
import { index, pgTable, text } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';
import { legacyAgentKeys } from './legacy-agent-keys.ts';

/** A predecessor agent, by the UUID it sends (`UID`), registered by its first beacon. */
export const legacyAgents = pgTable(
  'legacy_agents',
  {
    uid: text('uid').primaryKey(),
    keyId: text('key_id')
      .notNull()
      .references(() => legacyAgentKeys.id, { onDelete: 'cascade' }),
    deviceModel: text('device_model').notNull(),
    agentVersion: text('agent_version').notNull(),
    systemVersion: text('system_version').notNull(),
    extIp: text('ext_ip').notNull(),
    firstSeenAt: tstz('first_seen_at').notNull().defaultNow(),
    lastSeenAt: tstz('last_seen_at').notNull().defaultNow(),
  },
  (t) => [index('legacy_agents_key_idx').on(t.keyId)],
);

export const legacyAgentsRelations = relations(legacyAgents, ({ one }) => ({
  key: one(legacyAgentKeys, { fields: [legacyAgents.keyId], references: [legacyAgentKeys.id] }),
}));

export type LegacyAgentRow = typeof legacyAgents.$inferSelect;
