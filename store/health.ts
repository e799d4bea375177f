import type { StoreSession } from './index.ts';

/** Resolves once the database answers a trivial query; throws what the driver throws otherwise. */
export async function databaseAnswers(store: StoreSession): Promise<void> {
  await store.query('select 1');
}
