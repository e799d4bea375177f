import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local HTTP double of the Meilisearch API, answering exactly the calls
 * Plum's adapter makes (store/search/meili.ts), with the documented shapes of
 * Meilisearch v1:
 *   PATCH /indexes/{uid}/settings                → 202 summarized task (creates the index if missing)
 *   POST  /indexes/{uid}/documents[?primaryKey=]  → 202 task; replaces documents by primary key
 *   POST  /indexes/{uid}/documents/delete-batch  → 202 task
 *   GET   /tasks/{taskUid}                       → task (processing on the first poll, then succeeded/failed)
 *   POST  /indexes/{uid}/search                  → { hits, query, processingTimeMs, limit, offset, estimatedTotalHits }
 * Authorization: `Bearer <key>` when a key is set (401/403 otherwise). Any other
 * call answers 501 and is recorded in `unexpected`, so tests can require none.
 *
 * It is not Meilisearch: its "search" is a plain every-word-appears match over
 * the searchable attributes, in insertion order. It checks the API shape of
 * our calls, not Meilisearch's ranking or typo tolerance.
 */
export interface MeiliDouble {
  url: string;
  indexes: Map<string, { primaryKey?: string; settings: Record<string, unknown>; docs: Map<string, Record<string, unknown>> }>;
  requests: { method: string; path: string }[];
  unexpected: string[];
  /** Make the next document task fail (to test error handling). */
  failNextTask(message: string): void;
  close(): Promise<void>;
}

interface Task {
  uid: number;
  batchUid: number | null;
  indexUid: string;
  status: 'enqueued' | 'processing' | 'succeeded' | 'failed';
  type: string;
  canceledBy: null;
  details: Record<string, unknown>;
  error: null | { message: string; code: string; type: string; link: string };
  duration: string | null;
  enqueuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  polls: number;
}

const ID_RE = /^[A-Za-z0-9_-]{1,511}$/;

export async function startMeiliDouble(opts: { apiKey?: string } = {}): Promise<MeiliDouble> {
  const indexes: MeiliDouble['indexes'] = new Map();
  const tasks = new Map<number, Task>();
  const requests: MeiliDouble['requests'] = [];
  const unexpected: string[] = [];
  let nextTask = 0;
  let failMessage: string | undefined;

  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const apiError = (res: http.ServerResponse, status: number, code: string, message: string, type = 'invalid_request') =>
    send(res, status, { message, code, type, link: `https://docs.meilisearch.com/errors#${code}` });

  const ensureIndex = (uid: string) => {
    let ix = indexes.get(uid);
    if (!ix) {
      ix = { settings: {}, docs: new Map() };
      indexes.set(uid, ix);
    }
    return ix;
  };

  const enqueue = (res: http.ServerResponse, indexUid: string, type: string, run: () => Record<string, unknown>) => {
    const uid = nextTask++;
    const now = new Date().toISOString();
    const task: Task = {
      uid,
      batchUid: uid,
      indexUid,
      status: 'enqueued',
      type,
      canceledBy: null,
      details: {},
      error: null,
      duration: null,
      enqueuedAt: now,
      startedAt: null,
      finishedAt: null,
      polls: 0,
    };
    tasks.set(uid, task);
    // Processed at once; reported as processing on the first poll so clients must wait properly.
    if (failMessage && type !== 'settingsUpdate') {
      task.status = 'failed';
      task.error = { message: failMessage, code: 'internal', type: 'internal', link: 'https://docs.meilisearch.com/errors#internal' };
      failMessage = undefined;
    } else {
      try {
        task.details = run();
        task.status = 'succeeded';
      } catch (e) {
        task.status = 'failed';
        task.error = {
          message: (e as Error).message,
          code: 'invalid_document_id',
          type: 'invalid_request',
          link: 'https://docs.meilisearch.com/errors#invalid_document_id',
        };
      }
    }
    task.startedAt = now;
    task.finishedAt = new Date().toISOString();
    task.duration = 'PT0.001S';
    send(res, 202, { taskUid: uid, indexUid, status: 'enqueued', type, enqueuedAt: now });
  };

  const readBody = (req: http.IncomingMessage) =>
    new Promise<unknown>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const s = Buffer.concat(chunks).toString('utf8');
        try {
          resolve(s ? JSON.parse(s) : undefined);
        } catch (e) {
          reject(e);
        }
      });
      req.on('error', reject);
    });

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://double');
    const method = req.method ?? 'GET';
    requests.push({ method, path: url.pathname });
    if (opts.apiKey) {
      const auth = req.headers.authorization;
      if (!auth) return apiError(res, 401, 'missing_authorization_header', 'The Authorization header is missing.', 'auth');
      if (auth !== `Bearer ${opts.apiKey}`) return apiError(res, 403, 'invalid_api_key', 'The provided API key is invalid.', 'auth');
    }
    let body: unknown;
    try {
      body = await readBody(req);
    } catch {
      return apiError(res, 400, 'malformed_payload', 'The JSON payload is malformed.');
    }
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);

    if (parts[0] === 'tasks' && parts.length === 2 && method === 'GET') {
      const task = tasks.get(Number(parts[1]));
      if (!task) return apiError(res, 404, 'task_not_found', `Task \`${parts[1]}\` not found.`);
      task.polls++;
      const { polls, ...shown } = task;
      return send(res, 200, polls === 1 && task.status !== 'failed' ? { ...shown, status: 'processing', finishedAt: null, duration: null } : shown);
    }
    if (parts[0] === 'indexes' && parts.length >= 3) {
      const uid = parts[1]!;
      const rest = parts.slice(2).join('/');
      if (rest === 'settings' && method === 'PATCH') {
        return enqueue(res, uid, 'settingsUpdate', () => {
          const ix = ensureIndex(uid);
          Object.assign(ix.settings, body as Record<string, unknown>);
          return body as Record<string, unknown>;
        });
      }
      if (rest === 'documents' && method === 'POST') {
        if (!Array.isArray(body)) return apiError(res, 400, 'malformed_payload', 'The payload must be an array of documents.');
        const pk = url.searchParams.get('primaryKey') ?? undefined;
        return enqueue(res, uid, 'documentAdditionOrUpdate', () => {
          const ix = ensureIndex(uid);
          ix.primaryKey ??= pk ?? 'id';
          for (const d of body as Record<string, unknown>[]) {
            const id = d[ix.primaryKey];
            if (typeof id !== 'string' && typeof id !== 'number') throw new Error(`Document doesn't have a \`${ix.primaryKey}\` attribute.`);
            if (!ID_RE.test(String(id))) throw new Error(`Document identifier \`${String(id)}\` is invalid.`);
          }
          for (const d of body as Record<string, unknown>[]) ix.docs.set(String(d[ix.primaryKey]), d);
          return { receivedDocuments: body.length, indexedDocuments: body.length };
        });
      }
      if (rest === 'documents/delete-batch' && method === 'POST') {
        if (!Array.isArray(body)) return apiError(res, 400, 'malformed_payload', 'The payload must be an array of ids.');
        return enqueue(res, uid, 'documentDeletion', () => {
          const ix = indexes.get(uid);
          let deleted = 0;
          for (const id of body as unknown[]) if (ix?.docs.delete(String(id))) deleted++;
          return { providedIds: body.length, deletedDocuments: deleted };
        });
      }
      if (rest === 'search' && method === 'POST') {
        const ix = indexes.get(uid);
        if (!ix) return apiError(res, 404, 'index_not_found', `Index \`${uid}\` not found.`);
        const b = (body ?? {}) as { q?: string; offset?: number; limit?: number; attributesToRetrieve?: string[] };
        const words = (b.q ?? '')
          .toLowerCase()
          .split(/[^\p{L}\p{N}]+/u)
          .filter(Boolean);
        const searchable = (ix.settings.searchableAttributes as string[] | undefined) ?? ['*'];
        const matches = [...ix.docs.values()].filter((d) => {
          const text = (searchable.includes('*') ? Object.values(d) : searchable.map((a) => d[a])).flat().join(' ').toLowerCase();
          return words.every((w) => text.includes(w));
        });
        const offset = b.offset ?? 0;
        const limit = b.limit ?? 20;
        const hits = matches.slice(offset, offset + limit).map((d) => {
          if (!b.attributesToRetrieve || b.attributesToRetrieve.includes('*')) return d;
          return Object.fromEntries(b.attributesToRetrieve.filter((a) => a in d).map((a) => [a, d[a]]));
        });
        return send(res, 200, { hits, query: b.q ?? '', processingTimeMs: 0, limit, offset, estimatedTotalHits: matches.length });
      }
    }
    unexpected.push(`${method} ${url.pathname}`);
    return apiError(res, 501, 'not_implemented_in_double', `${method} ${url.pathname} is not answered by the test double`);
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    indexes,
    requests,
    unexpected,
    failNextTask(message: string) {
      failMessage = message;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
