import { PgDialect } from 'drizzle-orm/pg-core';
import type { StoreSession } from '../../store/index.ts';

/** The store, with the SQL text of every query it runs passed to `seen` first (tests telling which path a search took). */
export function recordingStore(store: StoreSession, seen: (text: string) => void): StoreSession {
  const dialect = new PgDialect();
  return {
    ...store,
    query: (q, params) => {
      seen(typeof q === 'string' ? q : dialect.sqlToQuery(q).sql);
      return store.query(q, params);
    },
  };
}
