/**
 * Benchmark of `plum rules apply` (issue 7): N stored port documents (default
 * 1,000,000, four services per host, built from templates of real services)
 * re-tagged and re-scored from their stored fields.
 *
 *   npx tsx bench/rules-apply.ts                         # PostgreSQL server, 1,000,000 documents
 *   BENCH_STORE=pglite BENCH_DOCS=100000 npx tsx bench/rules-apply.ts
 *   BENCH_KEEP=1 npx tsx bench/rules-apply.ts            # keeps plum_bench_rules_PID, for:
 *   BENCH_DB=plum_bench_rules_PID BENCH_TOGGLES=4 npx tsx bench/rules-apply.ts
 *     (pass 3 again and again on the kept database: the edit of web-nginx undone, redone, ...; each apply
 *     re-tags the same documents; prints each and the median)
 *
 * Passes: (1) first apply, every rule on every document; (2) nothing changed;
 * (3) one rule edited (incremental: only that rule re-runs); (4) score weights
 * edited (re-score only, no re-tagging).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { loadConfig } from '../core/config.ts';
import { compileRules } from '../core/rules/engine.ts';
import { loadFaviconDb } from '../core/rules/favicon-db.ts';
import { BUILTIN_RULES_DIR, loadRuleFiles } from '../core/rules/load.ts';
import { ruleHash } from '../core/rules/schema.ts';
import { DEFAULT_SCORE_FILE, loadScoreConfig } from '../core/score.ts';
import { openStore } from '../store/index.ts';
import { applyRules, SCORE_KEY, scoreHash } from '../store/rules/index.ts';
import { insertObservationsSql } from './lib/observations.ts';

const N = Number(process.env.BENCH_DOCS ?? 1_000_000);
const KIND = (process.env.BENCH_STORE ?? 'postgres') as 'postgres' | 'pglite';
const ADMIN = process.env.PLUM_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** One template per slot group; each host gets one service from each of the four groups (distinct ports). */
const TEMPLATES: { group: number; port: number; fields: Record<string, string[]> }[] = [
  { group: 0, port: 22, fields: { service_name: ['ssh'], banner: ['SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3'] } },
  { group: 0, port: 22, fields: { service_name: ['ssh'], banner: ['SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6'] } },
  { group: 0, port: 22, fields: { service_name: ['ssh'], banner: ['SSH-2.0-dropbear_2022.83'] } },
  {
    group: 0,
    port: 22,
    fields: { service_name: ['ssh'], banner: ['SSH-2.0-OpenSSH_7.4'], service_product: ['OpenSSH'], service_extrainfo: ['protocol 2.0; RHEL 7'] },
  },
  { group: 0, port: 22, fields: { service_name: ['telnet'] } },
  {
    group: 1,
    port: 80,
    fields: {
      service_name: ['http'],
      http_server: ['nginx/1.24.0'],
      http_title: ['Welcome to nginx!'],
      script: ['http-title', 'http-headers'],
      http_header: ['server', 'content-type', 'date'],
    },
  },
  {
    group: 1,
    port: 80,
    fields: { service_name: ['http'], http_server: ['Apache/2.4.57 (Debian)'], http_title: ['Apache2 Debian Default Page: It works'], script: ['http-title'] },
  },
  {
    group: 1,
    port: 80,
    fields: { service_name: ['http'], http_server: ['Microsoft-IIS/10.0'], http_title: ['IIS Windows Server'], http_headval: ['x-powered-by: ASP.NET'] },
  },
  { group: 1, port: 80, fields: { service_name: ['http'], http_server: ['Apache/2.4.41 (Ubuntu)'], http_title: ['Index of /backup'] } },
  {
    group: 1,
    port: 80,
    fields: {
      service_name: ['http'],
      http_server: ['nginx'],
      http_title: ['Shop'],
      http_headval: ['link: <https://shop.example/wp-json/>; rel="https://api.w.org/"', 'x-powered-by: PHP/7.4.33'],
      http_cookiename: ['PHPSESSID'],
    },
  },
  {
    group: 2,
    port: 443,
    fields: {
      service_name: ['https'],
      http_server: ['nginx'],
      http_title: ['Example'],
      x509_subject: ['CN=www.example.org'],
      x509_issuer: ["C=US, O=Let's Encrypt, CN=R3"],
      x509_not_before: ['2025-10-01T00:00:00Z'],
      x509_not_after: ['2026-12-30T00:00:00Z'],
      x509_key_type: ['rsa'],
      x509_key_bits: ['2048'],
    },
  },
  {
    group: 2,
    port: 443,
    fields: {
      service_name: ['https'],
      http_title: ['FortiGate'],
      http_headval: ['location: /remote/login?lang=en'],
      x509_subject: ['CN=FGT60F'],
      x509_issuer: ['O=Fortinet, CN=FGT60F'],
      x509_key_bits: ['2048'],
      x509_key_type: ['rsa'],
    },
  },
  {
    group: 2,
    port: 443,
    fields: {
      service_name: ['https'],
      http_title: ['iDRAC9 - Login'],
      x509_subject: ['CN=idrac-ABC'],
      x509_issuer: ['CN=idrac-ABC'],
      x509_not_after: ['2020-01-01T00:00:00Z'],
      x509_key_type: ['rsa'],
      x509_key_bits: ['1024'],
    },
  },
  {
    group: 2,
    port: 443,
    fields: { service_name: ['https'], http_title: ['GlobalProtect Portal'], x509_subject: ['CN=vpn.example.org'], x509_issuer: ['CN=DigiCert'] },
  },
  {
    group: 2,
    port: 443,
    fields: { service_name: ['https'], http_server: ['Microsoft-IIS/10.0'], http_title: ['Outlook Web App'], http_header: ['x-owa-version'] },
  },
  { group: 3, port: 6379, fields: { service_name: ['redis'], banner: ['-NOAUTH Authentication required.'] } },
  { group: 3, port: 6379, fields: { service_name: ['mysql'], banner: ['5.5.5-10.11.4-MariaDB-1~deb12u1'] } },
  { group: 3, port: 6379, fields: { service_name: ['smtp'], banner: ['220 mail.example.org ESMTP Postfix (Debian/GNU)'] } },
  { group: 3, port: 6379, fields: { http_server: ['MiniServ/2.021'], http_title: ['Login to Webmin'] } },
  { group: 3, port: 6379, fields: { banner: ['+OK Dovecot ready.'], service_name: ['pop3'] } },
  { group: 3, port: 6379, fields: { http_header: ['x-jenkins', 'x-jenkins-session'], http_title: ['Dashboard [Jenkins]'], service_name: ['http'] } },
  { group: 3, port: 6379, fields: { service_name: ['unknown'] } },
];

const fmt = (n: number) => n.toLocaleString('en-US');

/** Pass 3 repeated on a kept database: the web-nginx edit toggled, each apply timed. */
async function toggleEdits(dbName: string, times: number): Promise<void> {
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'plum-bench-rules-'));
  const url = new URL(ADMIN);
  url.pathname = `/${dbName}`;
  const config = loadConfig({ PLUM_HOME: home, PLUM_DATABASE_URL: url.toString() });
  const store = await openStore(config);
  try {
    const favicons = await loadFaviconDb(config.PLUM_FAVICON_DB);
    const rules = await loadRuleFiles(BUILTIN_RULES_DIR);
    const base = await loadScoreConfig(DEFAULT_SCORE_FILE);
    // The kept database ends with pass 4's weights: keep whichever weights it follows, so only the rule changes.
    const edited = { ...base, port: { weights: { ...base.port.weights, sensitive_service: 35, recently_changed: 5 } } };
    const stored = new Map((await store.query<{ name: string; hash: string }>(`select name, hash from rule_applications`)).map((r) => [r.name, r.hash]));
    const cfg = stored.get(SCORE_KEY) === scoreHash(edited) ? edited : base;
    const seconds: number[] = [];
    for (let i = 0; i < times; i++) {
      const [now] = await store.query<{ hash: string }>(`select hash from rule_applications where name = 'web-nginx'`);
      const original = rules.find((r) => r.name === 'web-nginx')!;
      const editing = now?.hash === original.hash;
      const list = editing
        ? rules.map((r) => (r.name === 'web-nginx' ? { ...r, tags: [...r.tags, 'team:web'], hash: ruleHash({ ...r, tags: [...r.tags, 'team:web'] }) } : r))
        : rules;
      const s = await applyRules(store, compileRules(list, { favicons }), cfg);
      seconds.push(s.durationMs / 1000);
      console.log(
        `${editing ? 'edit  ' : 'revert'} web-nginx ${(s.durationMs / 1000).toFixed(1).padStart(7)} s  documents ${fmt(s.documents)}  re-tagged ${fmt(s.retagged)}  re-scored ${fmt(s.rescored)}  hosts ${fmt(s.hosts)}`,
      );
    }
    const sorted = [...seconds].sort((a, b) => a - b);
    console.log(`median of ${times}: ${sorted[Math.floor((times - 1) / 2)]!.toFixed(1)} s`);
  } finally {
    await store.close();
    await fs.rm(home, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.env.BENCH_DB) {
    const times = Number(process.env.BENCH_TOGGLES ?? 3);
    if (!Number.isInteger(times) || times < 1) {
      console.error(`bench rules-apply: BENCH_TOGGLES must be a whole number of applies (1 or more), not ${process.env.BENCH_TOGGLES}`);
      process.exit(2);
    }
    return toggleEdits(process.env.BENCH_DB, times);
  }
  const home = await fs.mkdtemp(path.join(os.tmpdir(), 'plum-bench-rules-'));
  const dbName = `plum_bench_rules_${process.pid}`;
  let env: Record<string, string> = { PLUM_HOME: home };
  if (KIND === 'postgres') {
    const admin = postgres(ADMIN, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database "${dbName}"`);
    await admin.end();
    const url = new URL(ADMIN);
    url.pathname = `/${dbName}`;
    env = { ...env, PLUM_DATABASE_URL: url.toString() };
  }
  const config = loadConfig(env);
  const store = await openStore(config);
  try {
    console.error(`bench rules-apply: ${fmt(N)} documents into ${KIND}`);
    const templates = TEMPLATES.map((t, i) => ({ k: i, group: t.group, port: t.port, fields: t.fields }));
    const perGroup = [0, 1, 2, 3].map((g) => templates.filter((t) => t.group === g).map((t) => t.k));
    const t0 = Date.now();
    const chunk = 50_000;
    for (let start = 0; start < N; start += chunk) {
      const end = Math.min(N, start + chunk) - 1;
      // Document g is slot g%4 of host g/4; the template is picked by a hash of the host in that slot's group.
      await store.query(
        `with t as (select * from jsonb_to_recordset($3::jsonb) as x(k int, "group" int, port int, fields jsonb)),
              g as (select g, g % 4 as slot, ('127.0.0.0'::inet + (g / 4)) as ip from generate_series($1::int, $2::int) g),
         ${insertObservationsSql(
           ['id', 'ip', 'protocol', 'port', 'hsh256', 'fp_version', 'first_seen', 'last_seen', 'checked_at', 'state_changed_at', 'doc', 'fields'],
           `
         select 'obs_bench_' || g.g, g.ip, 'tcp', t.port, md5(g.g::text), 1,
           timestamptz '2026-01-01' - ((g.g % 40) * interval '1 day'), timestamptz '2026-01-01', timestamptz '2026-01-01',
           timestamptz '2026-01-01', '{}'::jsonb,
           (select jsonb_object_agg(f, '[]'::jsonb) from unnest($4::text[]) f) || t.fields
             || jsonb_build_object('ip', jsonb_build_array(host(g.ip)), 'port', jsonb_build_array(t.port::text),
                                   'protocol', '["tcp"]'::jsonb, 'state', '["open"]'::jsonb)
         from g join t on t.k = ($5::int[])[g.slot * 8 + 1 + (abs(hashint4(g.g / 4)) % (array_length(($5::int[]), 1) / 4))]`,
         )}`,
        [
          start,
          end,
          JSON.stringify(templates),
          (await import('../core/fields.ts')).SEARCH_FIELD_NAMES,
          perGroup.flatMap((ks) => Array.from({ length: 8 }, (_, i) => ks[i % ks.length]!)),
        ],
      );
      if (process.stderr.isTTY) process.stderr.write(`\rloading: ${fmt(end + 1)}`);
    }
    if (process.stderr.isTTY) process.stderr.write('\n');
    await store.query('analyze port_observations');
    const loadS = (Date.now() - t0) / 1000;
    const count = await store.query<{ n: number; h: number }>('select count(*)::int as n, count(distinct ip)::int as h from port_observations');
    console.log(`loaded ${fmt(count[0]!.n)} documents on ${fmt(count[0]!.h)} hosts in ${loadS.toFixed(1)} s`);

    const favicons = await loadFaviconDb(config.PLUM_FAVICON_DB);
    const rules = await loadRuleFiles(BUILTIN_RULES_DIR);
    let set = compileRules(rules, { favicons });
    let cfg = await loadScoreConfig(DEFAULT_SCORE_FILE);
    const progress = (p: { documents: number }) => {
      if (process.stderr.isTTY) process.stderr.write(`\rapplying: ${fmt(p.documents)}`);
    };
    const pass = async (label: string) => {
      const s = await applyRules(store, set, cfg, { onProgress: progress });
      if (process.stderr.isTTY) process.stderr.write('\n');
      const rate = s.documents > 0 ? fmt(Math.round(s.documents / (s.durationMs / 1000))) : '-';
      console.log(
        `${label.padEnd(34)} ${(s.durationMs / 1000).toFixed(1).padStart(7)} s  rules re-run ${String(s.affected.length).padStart(3)}` +
          `  documents ${fmt(s.documents).padStart(9)}  re-tagged ${fmt(s.retagged).padStart(9)}  re-scored ${fmt(s.rescored).padStart(9)}` +
          `  hosts ${fmt(s.hosts).padStart(7)}  docs/s ${rate}`,
      );
      return s;
    };
    await pass('1. first apply (all rules)');
    await pass('2. nothing changed');
    const edited = rules.map((r) =>
      r.name === 'web-nginx' ? { ...r, tags: [...r.tags, 'team:web'], hash: ruleHash({ ...r, tags: [...r.tags, 'team:web'] }) } : r,
    );
    set = compileRules(edited, { favicons });
    await pass('3. one rule edited (web-nginx)');
    cfg = { ...cfg, port: { weights: { ...cfg.port.weights, sensitive_service: 35, recently_changed: 5 } } };
    await pass('4. score weights edited');
    const size = await store.query<{ s: string }>(`select pg_size_pretty(pg_total_relation_size('port_observations')) as s`);
    const tagged = await store.query<{ n: number }>(`select count(*)::int as n from port_observations where cardinality(tags) > 0`);
    console.log(`port_observations: ${size[0]!.s}; ${fmt(tagged[0]!.n)} documents carry tags`);
  } finally {
    await store.close();
    if (KIND === 'postgres' && !process.env.BENCH_KEEP) {
      const admin = postgres(ADMIN, { max: 1, onnotice: () => {} });
      await admin.unsafe(`drop database if exists "${dbName}" with (force)`);
      await admin.end();
    }
    await fs.rm(home, { recursive: true, force: true });
  }
}

await main();
