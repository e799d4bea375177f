/**
 * Report benchmark: N matching hosts (default 100,000, two open ports each, a
 * share of them changed/appeared/gone in the period) generated directly in the
 * database, then the report model built from the store and rendered to
 * Markdown, and the same data exported as NDJSON and MISP.
 *
 *   npx tsx bench/report.ts                # PGlite (embedded), 100,000 hosts
 *   BENCH_HOSTS=20000 npx tsx bench/report.ts
 *   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/report.ts   # PostgreSQL server (own database, dropped after)
 *
 * Data only: the generated addresses (127.0.0.0/8) are never scanned.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { loadConfig } from '../core/config.ts';
import { renderReportMarkdown } from '../core/report/markdown.ts';
import { resolvePeriod } from '../core/report/period.ts';
import { DEFAULT_SCORE_FILE, loadScoreConfig } from '../core/score.ts';
import { buildReportModel, exportObservations } from '../activities/report.ts';
import { openStore, type Store } from '../store/index.ts';
import { insertObservationsSql } from './lib/observations.ts';

const HOSTS = Number(process.env.BENCH_HOSTS ?? 100_000);
const PG_URL = process.env.BENCH_PG_URL;
const NOW = new Date('2026-03-08T00:00:00Z');

const mb = () => `${Math.round(process.memoryUsage().rss / 1048576)} MB rss`;

/** Wall time, and this process's CPU time (the machine is shared: CPU time is the steadier figure; PGlite runs in-process, a PostgreSQL server does not). */
async function timed<T>(label: string, fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const value = await fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  console.log(`${label.padEnd(40)} ${(ms / 1000).toFixed(2).padStart(7)} s wall ${((c.user + c.system) / 1e6).toFixed(2).padStart(7)} s cpu   ${mb()}`);
  return { value, ms };
}

async function generate(store: Store): Promise<void> {
  // Host g: 127.a.b.c; port 443 for every host (half of them with a certificate),
  // port 22 for every host; 10% of 443 fingerprints changed in the period (old row + changed event),
  // 5% of hosts got 8080 in the period (appeared), 2% lost 22 (gone).
  const ip = `('127.' || ((g >> 16) & 255) || '.' || ((g >> 8) & 255) || '.' || (g & 255))::inet`;
  const fields = (port: string, extra: string) => `jsonb_build_object('ip', jsonb_build_array(host(${ip})), 'port', jsonb_build_array('${port}'),
    'protocol', jsonb_build_array('tcp'), 'state', jsonb_build_array('open'), ${extra})`;
  const base = `from generate_series(1, ${HOSTS}) g`;
  const ins = (select: string) =>
    `with ${insertObservationsSql(['id', 'ip', 'protocol', 'port', 'hsh256', 'fp_version', 'first_seen', 'last_seen', 'times_seen', 'state', 'current', 'checked_at', 'state_changed_at', 'doc', 'fields', 'tags', 'score'], select)}`;
  await store.query(
    ins(`
    select 'obs_b443_' || g, ${ip}, 'tcp', 443, md5('443new' || g) || md5(g::text), 1, timestamptz '2026-01-01' + (g % 50) * interval '1 day', timestamptz '2026-03-07', 10, 'open', true,
      timestamptz '2026-03-07', timestamptz '2026-01-01', '{}'::jsonb,
      ${fields(
        '443',
        `'service_name', jsonb_build_array('https'), 'http_title', jsonb_build_array('Portal ' || (g % 97)), 'http_server', jsonb_build_array(case when g % 3 = 0 then 'nginx' else 'Apache' end),
        'fqdn_requested', jsonb_build_array('h' || g || '.example.test'), 'ptr', jsonb_build_array('ptr-' || g || '.example.test'),
        'x509_subject_cn', case when g % 2 = 0 then jsonb_build_array('h' || g || '.example.test') else '[]'::jsonb end,
        'x509_sha256', case when g % 2 = 0 then jsonb_build_array(md5('c' || g) || md5('d' || g)) else '[]'::jsonb end`,
      )},
      case when g % 7 = 0 then array['type:vpn','vendor:fortinet'] when g % 11 = 0 then array['vuln:opendir'] else '{}'::text[] end,
      (g * 37) % 100
    ${base}`),
  );
  await store.query(
    ins(`
    select 'obs_b443old_' || g, ${ip}, 'tcp', 443, md5('443old' || g) || md5(g::text), 1, timestamptz '2025-12-01', timestamptz '2026-03-02', 5, 'open', false,
      timestamptz '2026-03-02', timestamptz '2025-12-01', '{}'::jsonb,
      ${fields('443', `'service_name', jsonb_build_array('https'), 'http_title', jsonb_build_array('Old portal'), 'http_server', jsonb_build_array('Apache')`)},
      '{}'::text[], 10
    ${base} where g % 10 = 0`),
  );
  await store.query(
    ins(`
    select 'obs_b22_' || g, ${ip}, 'tcp', 22, md5('22' || g) || md5(g::text), 1, timestamptz '2026-01-01', case when g % 50 = 0 then timestamptz '2026-03-03' else timestamptz '2026-03-07' end, 10,
      case when g % 50 = 0 then 'closed' else 'open' end, true, timestamptz '2026-03-07', timestamptz '2026-01-01', '{}'::jsonb,
      ${fields('22', `'service_name', jsonb_build_array('ssh'), 'banner', jsonb_build_array('SSH-2.0-OpenSSH_9.2p1 Debian-2')`)},
      array['product:openssh'], 20
    ${base}`),
  );
  await store.query(
    ins(`
    select 'obs_b8080_' || g, ${ip}, 'tcp', 8080, md5('8080' || g) || md5(g::text), 1, timestamptz '2026-03-04', timestamptz '2026-03-07', 2, 'open', true,
      timestamptz '2026-03-07', timestamptz '2026-03-04', '{}'::jsonb,
      ${fields('8080', `'service_name', jsonb_build_array('http-proxy'), 'http_title', jsonb_build_array('Jenkins')`)},
      array['product:jenkins','type:admin'], 60
    ${base} where g % 20 = 0`),
  );
  const evt = `insert into observation_events (id, type, ip, protocol, port, at, hsh256, previous_hsh256, observation_id, previous_observation_id)`;
  await store.query(
    `${evt} select 'evt_bc_' || g, 'changed', ${ip}, 'tcp', 443, timestamptz '2026-03-03', md5('443new' || g) || md5(g::text), md5('443old' || g) || md5(g::text), 'obs_b443_' || g, 'obs_b443old_' || g ${base} where g % 10 = 0`,
  );
  await store.query(
    `${evt} select 'evt_ba_' || g, 'appeared', ${ip}, 'tcp', 8080, timestamptz '2026-03-04', md5('8080' || g) || md5(g::text), null, 'obs_b8080_' || g, null ${base} where g % 20 = 0`,
  );
  await store.query(
    `${evt} select 'evt_bg_' || g, 'gone', ${ip}, 'tcp', 22, timestamptz '2026-03-05', md5('22' || g) || md5(g::text), null, 'obs_b22_' || g, null ${base} where g % 50 = 0`,
  );
  await store.query('analyze port_observations');
  await store.query('analyze observation_events');
}

async function main(): Promise<void> {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'plum-bench-report-'));
  let dbName: string | undefined;
  let env: Record<string, string> = { PLUM_HOME: home };
  if (PG_URL) {
    dbName = `plum_bench_report_${process.pid}`;
    const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database "${dbName}"`);
    await admin.end();
    const u = new URL(PG_URL);
    u.pathname = `/${dbName}`;
    env = { ...env, PLUM_DATABASE_URL: u.toString() };
  }
  const store = await openStore(loadConfig(env));
  console.log(`report benchmark: ${HOSTS} hosts on ${store.kind} (${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(1)})`);
  try {
    await timed('generate data in the database', () => generate(store));
    const [{ n }] = await store.query<{ n: number }>('select count(*)::int as n from port_observations');
    console.log(`  ${n} observations`);
    const period = resolvePeriod({ since: '7d' }, NOW);
    const scoreConfig = await loadScoreConfig(DEFAULT_SCORE_FILE);
    const { value: model, ms: modelMs } = await timed('build report model (all hosts)', () => buildReportModel(store, { period, now: NOW, scoreConfig }));
    const { value: md, ms: renderMs } = await timed('render Markdown (all hosts)', async () => renderReportMarkdown(model));
    console.log(
      `  ${model.totals.hosts} hosts, ${model.totals.ports} ports, ${model.changes.changed.length} changed, ${model.changes.appeared.length} appeared, ${model.changes.gone.length} gone; ${(md.length / 1048576).toFixed(1)} MB of Markdown`,
    );
    console.log(`  report total ${((modelMs + renderMs) / 1000).toFixed(2)} s`);
    await timed('report with query tag:type:vpn', async () =>
      renderReportMarkdown(await buildReportModel(store, { period, now: NOW, query: 'tag:type:vpn', scoreConfig })),
    );
    for (const format of ['ndjson', 'misp'] as const) {
      let bytes = 0;
      await timed(`export ${format} (current exposure)`, async () => {
        const { chunks } = exportObservations(store, { format, now: NOW });
        for await (const c of chunks) bytes += c.length;
      });
      console.log(`  ${(bytes / 1048576).toFixed(1)} MB`);
    }
  } finally {
    await store.close();
    await fs.rm(home, { recursive: true, force: true });
    if (dbName && PG_URL) {
      const admin = postgres(PG_URL, { max: 1, onnotice: () => {} });
      await admin.unsafe(`drop database if exists "${dbName}" with (force)`);
      await admin.end();
    }
  }
}

await main();
