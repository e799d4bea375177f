/**
 * Alert latency benchmark: the time from an ingest commit to a
 * webhook receiver on 127.0.0.1 getting the event, with the webhook dispatcher
 * of a long-running process (workers/webhook-dispatcher.ts) sleeping an hour
 * between passes: only the commit signal (LISTEN/NOTIFY on PostgreSQL, PGlite's
 * in-process listen) can wake it. Each run ingests `--ingests` scans of one host,
 * one at a time, and times each; the figure is the median over `--runs` runs of
 * each run's median (and p95).
 *
 *   npx tsx bench/alerts.ts                     # PGlite and PostgreSQL, 3 runs of 20 ingests
 *   npx tsx bench/alerts.ts --driver postgres --runs 5 --ingests 50
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { silentLogger } from '../core/log.ts';
import { listenForEvents } from '../store/events-signal.ts';
import { ingestScanResult } from '../store/ingest.ts';
import { createWebhook } from '../store/repos/webhooks.ts';
import { startWebhookDispatcher } from '../workers/webhook-dispatcher.ts';
import { openTestStore, storeKinds } from '../test/helpers/db.ts';
import { host, port, scan } from '../test/helpers/scan.ts';

const argv = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : dflt;
};
const drivers = arg('driver', 'both') === 'both' ? [...storeKinds] : [arg('driver', 'pglite') as (typeof storeKinds)[number]];
const runs = Number(arg('runs', '3'));
const ingests = Number(arg('ingests', '20'));
const log = (m: string) => process.stderr.write(`${m}\n`);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function oneRun(kind: (typeof storeKinds)[number]): Promise<number[]> {
  const t = await openTestStore(kind);
  const events = await listenForEvents(t.store);
  let arrived: (() => void) | undefined;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.end('ok');
      arrived?.();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  await createWebhook(t.store, { name: 'bench', url }, new Date(), { allowPrivate: true });
  const dispatcher = startWebhookDispatcher({ store: t.store, log: silentLogger, events, idleMs: 3_600_000, webhook: { allowPrivate: true } });
  const latencies: number[] = [];
  try {
    for (let i = 0; i < ingests; i++) {
      const got = new Promise<number>((resolve) => {
        arrived = () => resolve(performance.now());
      });
      // Each scan changes the port's banner: one `changed` (or the first `appeared`) event per commit.
      await ingestScanResult(t.store, {
        source: 'bench',
        scan: scan([host('127.0.3.1', new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(), [port(80, `v${i}`)])]),
      });
      const committed = performance.now();
      latencies.push((await got) - committed);
    }
  } finally {
    await dispatcher.stop();
    await events.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await t.cleanup();
  }
  return latencies;
}

log(
  `load average ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}; ${runs} runs of ${ingests} ingests`,
);
for (const kind of drivers) {
  const medians: number[] = [];
  const p95s: number[] = [];
  for (let r = 0; r < runs; r++) {
    const lat = await oneRun(kind);
    medians.push(pct(lat, 50));
    p95s.push(pct(lat, 95));
    log(`${kind} run ${r + 1}: commit -> receiver p50 ${pct(lat, 50).toFixed(1)} ms, p95 ${pct(lat, 95).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms`);
  }
  console.log(
    `${kind}: webhook delivery after commit: median of run p50s ${pct(medians, 50).toFixed(1)} ms, median of run p95s ${pct(p95s, 50).toFixed(1)} ms (${runs} runs x ${ingests} ingests)`,
  );
}
