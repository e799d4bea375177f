import { relations } from 'drizzle-orm';
import { integer, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { API_KEY_ROLES } from './api-keys.ts';
import { tstz } from './columns.ts';

/**
 * Accounts of the web interface (id `usr_…`), with the API's roles. Passwords
 * are stored as a self-describing scrypt hash (`scrypt$N$r$p$salt$hash`), so
 * stronger parameters can come later without a migration.
 */
export const users = pgTable(
  'users',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    role: text('role', { enum: API_KEY_ROLES }).notNull(),
    passwordHash: text('password_hash').notNull(),
    /** Consecutive failed logins since the last success; reaching the limit locks the account for a while. */
    failedLogins: integer('failed_logins').notNull().default(0),
    lockedUntil: tstz('locked_until'),
    createdAt: tstz('created_at').notNull().defaultNow(),
    passwordChangedAt: tstz('password_changed_at').notNull().defaultNow(),
    lastLoginAt: tstz('last_login_at'),
    /**
     * The single sign-on identity (`ISSUER SUBJECT`) of an account created by an OpenID Connect login
     * (web/oidc.ts); such an account has no password (password_hash `oidc$`, which no password matches).
     */
    oidcSubject: text('oidc_subject'),
  },
  (t) => [uniqueIndex('users_name_key').on(t.name), uniqueIndex('users_oidc_subject_key').on(t.oidcSubject)],
);

export const usersRelations = relations(users, () => ({}));

export type UserRow = typeof users.$inferSelect;
