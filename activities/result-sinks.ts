import { gzipSync } from 'node:zlib';
import { PlumError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import type { Store } from '../store/index.ts';
import { storeDeliveredResult } from '../store/repos/raw-results.ts';
import type { JobSpec } from '../workflows/logic/types.ts';

/*
 * Where a scanner's output goes once a job ran: into the server's database (embedded runner, server worker),
 * or to the server's upload route with the agent's token (agents), which claims the job first so that only
 * the runner that scanned it may deliver its result.
 */

/** Where runNmapJob hands a job's XML: the server database, or the server's upload route (agents). */
export interface ResultSink {
  deliver(spec: JobSpec, xml: Buffer, sha256: string): Promise<{ delivery: 'stored' | 'uploaded' }>;
  /** Claims the job for this runner before nmap starts (agents: only the claimer may upload). */
  claim?(spec: JobSpec, attempt: number): Promise<void>;
}

/** The default sink: the result goes into raw_results, where ingestJob finds it. */
export function storeResultSink(store: Store, opts: { retentionDays?: number; parserVersion?: number; now?: () => Date } = {}): ResultSink {
  return {
    async deliver(spec, xml, sha256) {
      const now = (opts.now ?? (() => new Date()))();
      const days = opts.retentionDays ?? 90;
      const expires = days > 0 ? new Date(now.getTime() + days * 86_400_000).toISOString() : null;
      await storeDeliveredResult(store, {
        id: newId('raw'),
        jobId: spec.jobId,
        runId: spec.runId,
        sha256,
        size: xml.length,
        xmlGz: gzipSync(xml),
        parserVersion: opts.parserVersion ?? 1,
        expiresAt: expires,
      });
      return { delivery: 'stored' };
    },
  };
}

/** Agents: PUT the gzip'd XML to the server's upload route with the agent token (claim check). */
/** The server's error body as a PlumError; codes caused by the request are kept (not retried), others are `unavailable`. */
async function uploadError(res: Response, what: string): Promise<PlumError> {
  let message = `${res.status} ${res.statusText}`;
  let code: string | undefined;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    if (body.error?.message) message = body.error.message;
    code = body.error?.code;
  } catch {
    // Not our JSON error body: keep the status line.
  }
  const known =
    code && ['conflict', 'forbidden', 'unauthorized', 'not_found', 'payload_too_large', 'invalid_input', 'parse_error', 'out_of_scope'].includes(code);
  return new PlumError(known ? (code as 'conflict') : 'unavailable', `${what}: ${message}`, {
    hint: known ? 'check the agent token and the job' : 'the server is unreachable or busy; the request is retried',
  });
}

export function httpResultSink(opts: { serverUrl: string; token: string; fetchImpl?: typeof fetch }): ResultSink {
  const base = opts.serverUrl.replace(/\/+$/, '');
  return {
    async claim(spec, attempt) {
      const res = await (opts.fetchImpl ?? fetch)(`${base}/v1/agent/jobs/${encodeURIComponent(spec.jobId)}/claim?attempt=${attempt}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${opts.token}` },
      });
      if (!res.ok) throw await uploadError(res, `claiming ${spec.jobId} failed`);
    },
    async deliver(spec, xml) {
      const res = await (opts.fetchImpl ?? fetch)(`${base}/v1/agent/jobs/${encodeURIComponent(spec.jobId)}/result`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${opts.token}`, 'content-type': 'application/xml', 'content-encoding': 'gzip' },
        body: gzipSync(xml),
      });
      if (!res.ok) throw await uploadError(res, `uploading the result of ${spec.jobId} failed`);
      return { delivery: 'uploaded' };
    },
  };
}
