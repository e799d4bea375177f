import { relations } from 'drizzle-orm';
import { index, pgTable, text } from 'drizzle-orm/pg-core';
import { tstz } from './columns.ts';
import { users } from './users.ts';

/**
 * Web sessions. The cookie carries a 256-bit secret; only its SHA-256 is the
 * key here, so a database read does not hand out live sessions. Each session
 * has its own CSRF token (synchronizer pattern), checked on every form post.
 */
export const webSessions = pgTable(
  'web_sessions',
  {
    /** Hex SHA-256 of the cookie's secret. */
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    csrfToken: text('csrf_token').notNull(),
    createdAt: tstz('created_at').notNull().defaultNow(),
    lastSeenAt: tstz('last_seen_at').notNull().defaultNow(),
    expiresAt: tstz('expires_at').notNull(),
  },
  (t) => [index('web_sessions_user_idx').on(t.userId), index('web_sessions_expires_idx').on(t.expiresAt)],
);

export const webSessionsRelations = relations(webSessions, ({ one }) => ({
  user: one(users, { fields: [webSessions.userId], references: [users.id] }),
}));

export type WebSessionRow = typeof webSessions.$inferSelect;
