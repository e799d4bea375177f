import fs from 'node:fs';
import net from 'node:net';
import type { PGlite } from '@electric-sql/pglite';
import { silentLogger, type Logger } from '../core/log.ts';
import type { Store } from './index.ts';
import { socketPathFor } from './lock.ts';

/*
 * PGlite serves one process. A long-running plum process (serve, scheduler,
 * worker) that holds the embedded database shares it with other plum commands
 * over a unix socket in $PLUM_HOME speaking the PostgreSQL wire protocol; the
 * others reach it with postgres.js (store/index.ts does that on its own when
 * the lock names a socket).
 *
 * The single PGlite backend is shared, so a client gets it exclusively from the
 * start of a request until PGlite reports it idle again (ReadyForQuery 'I'):
 * the holder's own queries and transactions interleave between the client's
 * requests, never inside them. A client that disconnects in a transaction is
 * rolled back before the backend is handed back.
 *
 * Not @electric-sql/pglite-socket: its multiplexer takes only PGlite's query
 * lock, per message, so a client's statement runs between two statements of
 * the holder's transaction and sees (and is rolled back with) its uncommitted
 * rows; test/store-socket.test.ts checks both directions here.
 */

export interface SharedStore {
  socketPath: string;
  close(): Promise<void>;
}

type Releaser = () => void;

interface PgliteInternals {
  _runExclusiveTransaction<T>(fn: () => Promise<T>): Promise<T>;
  runExclusive<T>(fn: () => Promise<T>): Promise<T>;
}

/** Takes the backend exactly as a holder's transaction does (transaction mutex, then query mutex). */
function acquireBackend(pg: PGlite): Promise<Releaser> {
  const p = pg as unknown as PgliteInternals;
  return new Promise<Releaser>((resolveAcquired) => {
    void p._runExclusiveTransaction(() =>
      p.runExclusive(
        () =>
          new Promise<void>((release) => {
            resolveAcquired(release);
          }),
      ),
    );
  });
}

function simpleQuery(text: string): Uint8Array {
  const body = Buffer.from(`${text}\0`, 'utf8');
  const msg = Buffer.alloc(5 + body.length);
  msg.write('Q', 0, 'latin1');
  msg.writeInt32BE(4 + body.length, 1);
  body.copy(msg, 5);
  return msg;
}

/** The transaction status of the last ReadyForQuery in a backend response ('I', 'T', 'E'), if any. */
function lastReadyStatus(buf: Uint8Array): string | undefined {
  let status: string | undefined;
  let off = 0;
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  while (off + 5 <= view.length) {
    const type = view[off]!;
    const len = view.readInt32BE(off + 1);
    if (len < 4) break;
    if (type === 0x5a /* Z */ && off + 6 <= view.length) status = String.fromCharCode(view[off + 5]!);
    off += 1 + len;
  }
  return status;
}

function serveConnection(pg: PGlite, socket: net.Socket, log: Logger): void {
  let pending: Buffer = Buffer.alloc(0);
  let started = false;
  let release: Releaser | undefined;
  let chain: Promise<void> = Promise.resolve();
  let closed = false;

  /** Between requests: give the backend back to the holder. */
  const handBack = () => {
    const r = release;
    release = undefined;
    r?.();
  };
  let finished = false;
  /** Client gone: leave the backend as the holder expects it (no open transaction, no client statements). */
  const finish = async () => {
    if (finished) return;
    finished = true;
    if (!started) return handBack();
    if (!release) release = await acquireBackend(pg);
    try {
      if (lastStatus !== 'I') await pg.execProtocolRaw(simpleQuery('ROLLBACK'));
      await pg.execProtocolRaw(simpleQuery('DEALLOCATE ALL'));
    } catch (e) {
      log.warn({ err: e }, 'resetting the backend after a socket client failed');
    }
    handBack();
  };

  let lastStatus = 'I';
  const process_ = async () => {
    // Split complete protocol messages off the buffer.
    const messages: Buffer[] = [];
    let terminate = false;
    for (;;) {
      if (!started) {
        if (pending.length < 8) break;
        const len = pending.readInt32BE(0);
        if (pending.length < len) break;
        const code = pending.readInt32BE(4);
        if (len === 8 && (code === 80877103 || code === 80877104)) {
          // SSL / GSS encryption request: not over a local socket.
          socket.write('N');
          pending = pending.subarray(len);
          continue;
        }
        messages.push(pending.subarray(0, len));
        pending = pending.subarray(len);
        started = true;
        continue;
      }
      if (pending.length < 5) break;
      const len = pending.readInt32BE(1);
      if (pending.length < 1 + len) break;
      const msg = pending.subarray(0, 1 + len);
      pending = pending.subarray(1 + len);
      if (msg[0] === 0x58 /* X: Terminate */) {
        terminate = true;
        break;
      }
      messages.push(msg);
    }
    if (messages.length > 0) {
      if (!release) release = await acquireBackend(pg);
      const out = await pg.execProtocolRaw(new Uint8Array(Buffer.concat(messages)));
      if (out.length > 0 && !closed) socket.write(Buffer.from(out));
      // A request may span several writes (postgres.js sends Parse/Describe/Flush, then Bind/Execute/Sync):
      // only a ReadyForQuery saying idle, with nothing half-received, ends it.
      const ready = lastReadyStatus(out);
      if (ready) lastStatus = ready;
      if (ready === 'I' && pending.length === 0) handBack();
    }
    if (terminate) {
      await finish();
      socket.end();
    }
  };

  socket.on('data', (data: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, data]) : data;
    chain = chain.then(process_).catch((e) => {
      log.warn({ err: e }, 'socket client failed');
      socket.destroy();
    });
  });
  const onGone = () => {
    if (closed) return;
    closed = true;
    chain = chain.then(finish).catch(() => {});
  };
  socket.on('close', onGone);
  socket.on('error', onGone);
}

/**
 * Shares the embedded database of a long-running process over $PLUM_HOME/plum.sock
 * and names the socket in the lock, so other plum commands go through it.
 */
export async function shareStore(store: Store, home: string, log: Logger = silentLogger): Promise<SharedStore | undefined> {
  if (!store.pglite || store.lock?.kind !== 'held') return undefined;
  const socketPath = socketPathFor(home);
  if (Buffer.byteLength(socketPath) > 100) {
    log.warn({ socketPath }, 'PLUM_HOME path too long for a unix socket; other plum commands will wait for this one');
    return undefined;
  }
  // We hold the lock: any socket file left here belongs to a dead holder.
  fs.rmSync(socketPath, { force: true });
  const pg = store.pglite;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serveConnection(pg, socket, log);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  fs.chmodSync(socketPath, 0o600);
  store.lock.advertiseSocket(socketPath);
  log.debug({ socketPath }, 'sharing the embedded database');
  const lock = store.lock;
  return {
    socketPath,
    async close() {
      lock.advertiseSocket(undefined);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(socketPath, { force: true });
    },
  };
}
