import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../store/index.ts';
import { shareStore, type SharedStore } from '../store/socket.ts';
import { makeTestConfig } from './helpers/db.ts';

/*
 * The embedded database shared over $PLUM_HOME/plum.sock (store/socket.ts) keeps transactions whole in both
 * directions: a socket client never runs inside the holder's open transaction (it would see, and could be
 * rolled back with, the holder's uncommitted rows), and the holder never runs inside a client's. This is
 * why Plum does not use @electric-sql/pglite-socket: its multiplexer takes PGlite's query lock per message
 * only, so a client's statement runs between two statements of the holder's transaction and sees its
 * uncommitted rows.
 */

let store: Store;
let shared: SharedStore;
let drop: () => Promise<void>;
let client: postgres.Sql;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const count = async (q: (text: string) => Promise<Array<{ n: number }>>) => (await q('select count(*)::int as n from socket_probe'))[0]!.n;

beforeAll(async () => {
  const made = await makeTestConfig('pglite');
  drop = made.drop;
  store = await openStore(made.config);
  shared = (await shareStore(store, made.config.home))!;
  await store.query('create table socket_probe (id int)');
  client = postgres({ path: shared.socketPath, max: 1, onnotice: () => {}, username: 'postgres', database: 'template1' });
}, 60_000);

afterAll(async () => {
  await client?.end({ timeout: 5 });
  await shared?.close();
  await store?.close();
  await drop?.();
});

describe('the embedded database shared over a socket', () => {
  it("a client's statement waits for the holder's transaction and never sees its uncommitted rows", async () => {
    const holder = store
      .transaction(async (tx) => {
        await tx.query('insert into socket_probe values (1)');
        await sleep(300);
        await tx.query('insert into socket_probe values (2)');
        throw new Error('rolled back');
      })
      .catch((e: Error) => e.message);
    await sleep(50);
    const started = Date.now();
    expect(await count((t) => client.unsafe(t))).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(await holder).toBe('rolled back');
  });

  it("the holder's statement waits for a client's transaction and never sees its uncommitted rows", async () => {
    const fromClient = client
      .begin(async (tx) => {
        await tx.unsafe('insert into socket_probe values (3)');
        await sleep(300);
        throw new Error('client rolled back');
      })
      .catch((e: Error) => e.message);
    await sleep(50);
    const started = Date.now();
    expect(await count((t) => store.query(t))).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(await fromClient).toBe('client rolled back');
  });

  it('a client that disconnects inside a transaction is rolled back, and the holder goes on', async () => {
    const lone = postgres({ path: shared.socketPath, max: 1, onnotice: () => {}, username: 'postgres', database: 'template1' });
    const reserved = await lone.reserve();
    await reserved.unsafe('begin');
    await reserved.unsafe('insert into socket_probe values (4)');
    await lone.end({ timeout: 0 });
    expect(await count((t) => store.query(t))).toBe(0);
    await store.query('insert into socket_probe values (5)');
    expect(await count((t) => client.unsafe(t))).toBe(1);
  });
});
