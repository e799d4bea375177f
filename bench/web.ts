/**
 * Web interface benchmark: each page's server time (p50/p95), measured in
 * process through the app's fetch handler (no network, no browser), with a
 * logged-in admin session, over a database of many port documents.
 *
 * The documents come from the search benchmark's generator, kept in its database:
 *
 *   npx tsx bench/search.ts --keep                  # builds plum_bench_search (2,000,000 documents; --size N for fewer)
 *   npx tsx bench/web.ts                            # measures every page on it
 *   options: --runs N (default 20), --db URL (another PostgreSQL database)
 *
 * The bench adds one user (bench-web-<pid>) and removes it at the end.
 */
import os from 'node:os';
import path from 'node:path';
import { createApp } from '../api/app.ts';
import { loadConfig } from '../core/config.ts';
import { openStore } from '../store/index.ts';
import { createUser, createWebSession, removeUser } from '../store/repos/users.ts';

const argv = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : dflt;
};
const runs = Number(arg('runs', '20'));
const admin = new URL(process.env.PLUM_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
admin.pathname = '/plum_bench_search';
const db = arg('db', admin.toString());
const log = (m: string) => process.stderr.write(`${m}\n`);

const store = await openStore(loadConfig({ PLUM_HOME: path.join(os.tmpdir(), 'plum-bench-web-home'), PLUM_DATABASE_URL: db }));
const name = `bench-web-${process.pid}`;
try {
  const [{ n }] = await store.query<{ n: number }>('select count(*)::int as n from port_observations') as [{ n: number }];
  if (n === 0) throw new Error(`no port documents in ${db}: run npx tsx bench/search.ts --keep first`);
  const [{ ip }] = await store.query<{ ip: string }>("select host(ip) as ip from port_observations where current and state = 'open' limit 1") as [{ ip: string }];
  const user = await createUser(store, { name, role: 'admin', password: `bench password ${process.pid}` });
  const { secret } = await createWebSession(store, user.id, 3_600_000);
  const app = createApp({ store, config: loadConfig({ PLUM_DATABASE_URL: db }) });
  const pages = [
    '/', '/search?q=port%3A443%20http_server.lk%3Anginx', '/search?q=port%3A22&sort=score', '/search?q=openssh&mode=token',
    `/hosts/${ip}`, '/changes', '/runs', '/perimeter', '/rules', '/reports', '/admin', '/search/complete?q=http_server%3Angi',
  ];
  log(`bench: ${n.toLocaleString('en')} port documents; ${runs} runs per page`);
  const rows: { page: string; p50: number; p95: number; status: number }[] = [];
  for (const page of pages) {
    const times: number[] = [];
    let status = 0;
    for (let i = 0; i < runs + 2; i++) {
      const t0 = performance.now();
      const res = await app.request(page, { headers: { cookie: `plum_session=${secret}`, accept: 'text/html' } });
      await res.arrayBuffer();
      const ms = performance.now() - t0;
      status = res.status;
      if (i >= 2) times.push(ms); // two warm-up requests
    }
    times.sort((a, b) => a - b);
    const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
    rows.push({ page, p50: Math.round(q(0.5)), p95: Math.round(q(0.95)), status });
    log(`  ${page}: p50 ${Math.round(q(0.5))} ms, p95 ${Math.round(q(0.95))} ms (HTTP ${status})`);
  }
  process.stdout.write(`${JSON.stringify({ documents: n, runs, pages: rows }, null, 2)}\n`);
} finally {
  await removeUser(store, name).catch(() => undefined);
  await store.close();
}
