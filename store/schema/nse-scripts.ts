import { index, integer, pgTable, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';
import { tstz } from './columns.ts';

/**
 * Custom NSE scripts (id `nse_…`, `plum nse add`): the current content of
 * each by name, with its SHA-256 (what jobs carry and agents fetch and check)
 * and the categories its Lua declares (what the scan policy judges).
 */
export const nseScripts = pgTable(
  'nse_scripts',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    sha256: text('sha256').notNull(),
    content: text('content').notNull(),
    size: integer('size').notNull(),
    categories: text('categories')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    createdBy: text('created_by'),
    createdAt: tstz('created_at').notNull().defaultNow(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('nse_scripts_name_key').on(t.name), index('nse_scripts_sha256_idx').on(t.sha256)],
);

export type NseScriptRow = typeof nseScripts.$inferSelect;
