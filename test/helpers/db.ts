import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { loadConfig, type PlumConfig } from '../../core/config.ts';
import { openStore, type Store } from '../../store/index.ts';

/** Every database test runs on both drivers: `describe.each(storeKinds)`. */
export const storeKinds = ['pglite', 'postgres'] as const;
export type StoreKindName = (typeof storeKinds)[number];

/** The PostgreSQL server of the project's machines (trust auth). Tests create their own databases on it. */
export const TEST_PG_ADMIN_URL = process.env.PLUM_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestStore {
  store: Store;
  config: PlumConfig;
  /** Closes the store and removes its directory or database. */
  cleanup(): Promise<void>;
}

/** A fresh temporary $PLUM_HOME, and for `postgres` a fresh database named after it. */
/** The environment a `plum` child process needs to open the same store. */
export function cliEnvOf(config: PlumConfig): Record<string, string> {
  return { PLUM_HOME: config.home, PLUM_DATABASE_URL: config.PLUM_DATABASE_URL ?? '' };
}

export async function makeTestConfig(kind: StoreKindName, env: Record<string, string> = {}): Promise<{ config: PlumConfig; drop(): Promise<void> }> {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'plum-test-'));
  if (kind === 'pglite') {
    const config = loadConfig({ PLUM_HOME: home, ...env });
    return { config, drop: () => fs.rm(home, { recursive: true, force: true }) };
  }
  const name = `plum_t_${path
    .basename(home)
    .replace(/[^a-z0-9]/gi, '')
    .toLowerCase()}_${process.pid}`;
  const admin = postgres(TEST_PG_ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const url = new URL(TEST_PG_ADMIN_URL);
  url.pathname = `/${name}`;
  const config = loadConfig({ PLUM_HOME: home, PLUM_DATABASE_URL: url.toString(), ...env });
  return {
    config,
    async drop() {
      const a = postgres(TEST_PG_ADMIN_URL, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await a.end({ timeout: 5 });
      }
      await fs.rm(home, { recursive: true, force: true });
    },
  };
}

/** `share`: an embedded database is shared over its socket, as `plum serve` does, so `plum` child processes reach it. */
export async function openTestStore(kind: StoreKindName, env: Record<string, string> = {}, opts: { share?: boolean } = {}): Promise<TestStore> {
  const { config, drop } = await makeTestConfig(kind, env);
  let store: Store;
  try {
    store = await openStore(config, opts.share ? { share: true } : undefined);
  } catch (e) {
    await drop();
    throw e;
  }
  return {
    store,
    config,
    async cleanup() {
      await store.close();
      await drop();
    },
  };
}
