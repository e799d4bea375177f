/**
 * Web interface benchmark: each page's server time (p50/p95), measured in
 * process through the app's fetch handler (no network, no browser), with a
 * logged-in admin session, over a database of many port documents.
 *
 * The documents come from the search benchmark's generator, kept in its database:
 *
 *   npx tsx bench/search.ts --keep                  # builds plum_bench_search (2,000,000 documents; --size N for fewer)
 *   npx tsx bench/web.ts                            # measures every page on it
 *   options: --runs N (default 20), --db URL (another PostgreSQL database), --only TEXT (the pages whose path contains it)
 *
 * The generator writes port documents only; ingest would also have scored each host (host_scores, which
 * the overview counts and bands read). So before measuring, every host with open ports and no stored score
 * is scored through the same code as the rescoring after an ingest (rescoreIps); a kept database is scored once.
 * The bench adds one user (bench-web-<pid>) and removes it at the end.
 */
import os from 'node:os';
import path from 'node:path';
import { createApp } from '../api/app.ts';
import { loadConfig } from '../core/config.ts';
import { openStore, type Store } from '../store/index.ts';
import { openRuleContext, rescoreIps } from '../store/rules/index.ts';
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

const config = loadConfig({ PLUM_HOME: path.join(os.tmpdir(), 'plum-bench-web-home'), PLUM_DATABASE_URL: db });
const store = await openStore(config);

/** Scores the hosts that have open ports and no stored score, as the rescoring after an ingest does. */
async function scoreUnscoredHosts(s: Store): Promise<void> {
  const ips = (
    await s.query<{ ip: string }>(
      // Distinct addresses first, text after: a hash aggregate on host() text spilled for minutes at 2,000,000.
      `select host(x.ip) as ip from (select distinct o.ip from port_observations o where o.current and o.state = 'open'
       and not exists (select 1 from host_scores h where h.ip = o.ip)) x`,
    )
  ).map((r) => r.ip);
  if (ips.length === 0) return;
  const t0 = performance.now();
  log(`bench: scoring ${ips.length.toLocaleString('en')} hosts (host_scores)...`);
  const ctx = await openRuleContext(s, config);
  const batch = 20_000;
  for (let i = 0; i < ips.length; i += batch) {
    await rescoreIps(s, ips.slice(i, i + batch), ctx);
    log(`  ${Math.min(ips.length, i + batch).toLocaleString('en')} hosts (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  await s.query('vacuum (analyze) host_scores');
}
const name = `bench-web-${process.pid}`;
try {
  const [{ n }] = (await store.query<{ n: number }>('select count(*)::int as n from port_observations')) as [{ n: number }];
  if (n === 0) throw new Error(`no port documents in ${db}: run npx tsx bench/search.ts --keep first`);
  await scoreUnscoredHosts(store);
  const [{ ip }] = (await store.query<{ ip: string }>("select host(ip) as ip from port_observations where current and state = 'open' limit 1")) as [
    { ip: string },
  ];
  const user = await createUser(store, { name, role: 'admin', password: `bench password ${process.pid}` });
  const { secret } = await createWebSession(store, user.id, 3_600_000);
  // The bench repeats each search far past the per-user limit of expensive pages, which it is not measuring.
  const app = createApp({ store, config: loadConfig({ PLUM_DATABASE_URL: db }), limits: { expensivePerMinute: 1_000_000 } });
  const pages = [
    '/',
    '/search?q=port%3A443%20http_server.lk%3Anginx',
    '/search?q=port%3A22&sort=score',
    // Sorted by score without a port or address term, matching many documents that mostly score zero, under
    // documents above zero that do not match: service, tag, hot-field text and token terms.
    '/search?q=service_name%3Assh&sort=score',
    '/search?q=tag%3Aproduct%3Aopenssh&sort=score',
    '/search?q=http_server.lk%3Anginx&sort=score',
    '/search?q=openssh&mode=token&sort=score',
    '/search?q=openssh&mode=token',
    `/hosts/${ip}`,
    '/changes',
    '/runs',
    '/perimeter',
    '/rules',
    '/reports',
    '/admin',
    '/search/complete?q=http_server%3Angi',
  ];
  log(`bench: ${n.toLocaleString('en')} port documents; ${runs} runs per page`);
  const rows: { page: string; p50: number; p95: number; status: number }[] = [];
  const only = arg('only', '');
  for (const page of pages.filter((p) => p.includes(only))) {
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
