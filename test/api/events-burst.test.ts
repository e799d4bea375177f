import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPlum } from '../helpers/cli.ts';
import { makeTestConfig, storeKinds, cliEnvOf } from '../helpers/db.ts';
import { writeNmapXml } from '../helpers/nmap-xml.ts';
import { startServe, type ServeProcess } from '../helpers/serve.ts';
import { readSse } from './sse.ts';

/** How long /v1/health took (ms), or Infinity when it did not answer within `timeoutMs`. */
async function healthLatency(url: string, timeoutMs = 3000): Promise<number> {
  const t0 = Date.now();
  try {
    const res = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.text();
    return res.ok ? Date.now() - t0 : Infinity;
  } catch {
    return Infinity;
  }
}

describe.each(storeKinds)('the event feed under a burst, in a real plum serve (%s)', (kind) => {
  let env: Record<string, string>;
  let drop: () => Promise<void>;
  let serve: ServeProcess | undefined;
  let key: string;

  beforeAll(async () => {
    const t = await makeTestConfig(kind);
    drop = t.drop;
    env = { ...cliEnvOf(t.config), PLUM_LOG_LEVEL: 'warn' };
    const k = await runPlum(['apikey', 'create', '--role', 'viewer', '--name', 'burst'], env);
    expect(k.code, k.stderr).toBe(0);
    key = k.stdout.trim();
    serve = await startServe(env);
  }, 120_000);
  afterAll(async () => {
    await serve?.stop(5000);
    await drop?.();
  });

  it('a thousand events in one second: all delivered once, in id order; health answers fast; SIGTERM stops it', async () => {
    const url = serve!.url;
    const res = await fetch(`${url}/v1/events?runs=false`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    const xml = writeNmapXml(path.join(env.PLUM_HOME!, 'burst.xml'), { hosts: 1, ports: 1000 });

    // One ingest through the server's socket (embedded) or the database (PostgreSQL): 1,000 appeared events in one transaction.
    const reading = readSse(res, (all) => all.filter((m) => m.event === 'observation').length >= 1000, 30_000);
    const ing = await runPlum(['ingest', xml], env);
    expect(ing.code, ing.stderr).toBe(0);
    // While the stream delivers them and then polls on, the server keeps answering.
    const latencies: number[] = [];
    for (const until = Date.now() + 2500; Date.now() < until;) {
      latencies.push(await healthLatency(url));
      await new Promise((r) => setTimeout(r, 100));
    }
    const msgs = await reading;

    const ids = msgs.filter((m) => m.event === 'observation').map((m) => m.id!);
    expect(ids).toHaveLength(1000);
    expect(new Set(ids).size).toBe(1000);
    expect(ids).toEqual([...ids].sort());
    expect(latencies.length).toBeGreaterThan(3);
    expect(Math.max(...latencies)).toBeLessThan(1000);

    const stoppedIn = await serve!.stop(5000);
    expect(stoppedIn).toBeDefined();
    serve = undefined;
  }, 120_000);
});
