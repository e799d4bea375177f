import { pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';

/**
 * Keys of the predecessor's agents (id `lkey_…`), in its 80-character format:
 * a 16-character index, by which the key is found, then 64 secret characters.
 * Only a salted SHA-256 of the whole key is stored.
 */
export const legacyAgentKeys = pgTable(
  'legacy_agent_keys',
  {
    id: text('id').primaryKey(),
    keyIndex: text('key_index').notNull(),
    salt: text('salt').notNull(),
    hash: text('hash').notNull(),
    note: text('note'),
    createdAt: tstz('created_at').notNull().defaultNow(),
    lastUsedAt: tstz('last_used_at'),
    revokedAt: tstz('revoked_at'),
  },
  (t) => [uniqueIndex('legacy_agent_keys_index_key').on(t.keyIndex)],
);

export type LegacyAgentKeyRow = typeof legacyAgentKeys.$inferSelect;
