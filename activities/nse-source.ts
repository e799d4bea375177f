import { PlumError } from '../core/errors.ts';
import { sha256Hex, type CustomScriptRef } from '../core/nmap/custom-scripts.ts';

/**
 * An agent's source of custom NSE scripts: GET /v1/agent/nse-scripts/{sha256}
 * with its agent token. What arrives is checked against the hash the job
 * carries before it is cached or used, so a tampered download (or a server
 * answering another version) is refused; the cache is keyed by that hash, so a
 * changed script (a new hash) is fetched once and its old version never reused.
 */
export interface HttpScriptSourceOptions {
  serverUrl: string;
  token: string;
  fetchImpl?: typeof fetch;
  /** Scripts kept in memory (by hash), default 64. */
  cacheSize?: number;
}

export function httpScriptSource(opts: HttpScriptSourceOptions): (ref: CustomScriptRef) => Promise<Buffer> {
  const base = opts.serverUrl.replace(/\/+$/, '');
  const cache = new Map<string, Buffer>();
  const limit = opts.cacheSize ?? 64;
  return async (ref) => {
    const hit = cache.get(ref.sha256);
    if (hit) return hit;
    if (!/^[0-9a-f]{64}$/.test(ref.sha256)) {
      throw new PlumError('invalid_input', `custom NSE script ${ref.name} has no valid sha256 in the job`, { hint: 'the job is malformed; start a new run' });
    }
    let res: Response;
    try {
      res = await (opts.fetchImpl ?? fetch)(`${base}/v1/agent/nse-scripts/${ref.sha256}`, { headers: { authorization: `Bearer ${opts.token}` } });
    } catch (e) {
      throw new PlumError('unavailable', `fetching custom NSE script ${ref.name} failed: ${(e as Error).message}`, {
        hint: 'the server is unreachable; the job is retried',
      });
    }
    if (!res.ok) {
      const code = res.status === 404 ? 'not_found' : res.status === 401 ? 'unauthorized' : res.status === 403 ? 'forbidden' : 'unavailable';
      throw new PlumError(code, `fetching custom NSE script ${ref.name} failed: ${res.status} ${res.statusText}`, {
        hint: res.status === 404 ? 'the script was replaced or removed after the run was planned; start a new run' : 'check the agent token and the server',
      });
    }
    const content = Buffer.from(await res.arrayBuffer());
    const actual = sha256Hex(content);
    if (actual !== ref.sha256) {
      throw new PlumError(
        'unsafe_argument',
        `custom NSE script ${ref.name} downloaded with sha256 ${actual.slice(0, 12)}…, the job expects ${ref.sha256.slice(0, 12)}…; refused`,
        {
          hint: 'something between the agent and the server altered the script; check the server URL and its TLS',
        },
      );
    }
    if (cache.size >= limit) cache.delete(cache.keys().next().value!);
    cache.set(ref.sha256, content);
    return content;
  };
}
