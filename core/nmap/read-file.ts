import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import { PlumError } from '../errors.ts';

/** Bytes per read of openXmlFile: one host batch (HostSteps) per chunk in-thread. */
const READ_BYTES = 64 * 1024;

/** Our error for a file that cannot be read (the code of a failed open or read). */
function readError(path: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new PlumError('not_found', `no such file: ${path}`, { hint: 'check the path', cause: e });
  if (code === 'EISDIR') return new PlumError('invalid_input', `${path} is a directory`, { hint: 'give an nmap XML file', cause: e });
  if (code === 'EACCES') return new PlumError('invalid_input', `cannot read ${path}: permission denied`, { hint: 'check the file permissions', cause: e });
  return e;
}

/**
 * A file's bytes, chunk by chunk. A regular file is read with synchronous
 * reads: an asynchronous read per chunk went to libuv's thread pool and back,
 * and the parse waited for every one (bench/parse.ts measured the wait); a
 * read from the page cache is short against the parsing of a chunk, which holds
 * the thread anyway.
 * Anything else (a pipe, a FIFO, a directory) is read as a stream, so the
 * event loop is never held waiting for a writer such as nmap.
 */
export function openXmlFile(path: string): AsyncIterable<Buffer> {
  return {
    async *[Symbol.asyncIterator]() {
      let regular: boolean;
      try {
        regular = statSync(path).isFile();
      } catch (e) {
        throw readError(path, e);
      }
      if (!regular) {
        try {
          for await (const chunk of createReadStream(path, { highWaterMark: READ_BYTES })) yield chunk as Buffer;
        } catch (e) {
          throw readError(path, e);
        }
        return;
      }
      let fd: number;
      try {
        fd = openSync(path, 'r');
      } catch (e) {
        throw readError(path, e);
      }
      try {
        for (let chunks = 1; ; chunks++) {
          // A new buffer per chunk: a consumer may keep the chunks it was given.
          const buf = Buffer.allocUnsafe(READ_BYTES);
          let n: number;
          try {
            n = readSync(fd, buf, 0, READ_BYTES, null);
          } catch (e) {
            throw readError(path, e);
          }
          if (n === 0) return;
          yield n === READ_BYTES ? buf : buf.subarray(0, n);
          // A turn of the event loop every 512 KB, as the asynchronous reads gave: without it a whole file's
          // parse would run in microtasks, and nothing else (timers, heartbeats, HTTP requests, messages from the
          // parse threads) would run until it ends. A turn every chunk cost more than it bought.
          if (chunks % 8 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
        }
      } finally {
        closeSync(fd);
      }
    },
  };
}
