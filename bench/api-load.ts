/**
 * The HTTP API under load: `plum serve` on loopback over a PostgreSQL database of many port
 * documents, driven by wrk (Debian's `wrk`): search requests (a mix of the search benchmark's
 * queries) and host pages (addresses sampled from the database), each for a fixed time with a
 * fixed number of connections, every request answered before the next is sent on a connection.
 *
 *   apt-get install -y wrk
 *   npx tsx bench/search.ts --keep --runs 1     # builds plum_bench_search: 2,000,000 documents
 *   npm run build                               # the bench serves with the bundled plum
 *   npx tsx bench/api-load.ts [--duration 30] [--search-connections 8] [--host-connections 16] [--runs 3] [--db URL]
 *
 * Goals: search at 200 requests/s with p95 under 100 ms, the host page at 500 requests/s with
 * p95 under 50 ms, no error. wrk keeps every connection busy, so the rate it reaches is the most
 * the server sustains at that concurrency: a goal is met when that rate is at or above the goal's
 * rate with the p95 under the goal's latency (at the goal's lower rate, latency is no higher).
 * Where the time goes: the share of the server process's CPU, PostgreSQL's CPU and idle time
 * during each phase (from /proc), printed with the figures.
 *
 * The rate limit of expensive routes is lifted for the bench (PLUM_API_EXPENSIVE_PER_MINUTE).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../core/config.ts';
import { openStore } from '../store/index.ts';
import { createApiKey, revokeApiKey } from '../store/repos/apikeys.ts';
import { parseArgs } from 'node:util';
import { benchArgs, requireFreshBundle, usageExit } from './lib/cli.ts';

const usage = 'usage: npx tsx bench/api-load.ts [--duration S] [--search-connections N] [--host-connections N] [--runs N] [--db URL]';
const admin = new URL(process.env.PLUM_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
admin.pathname = '/plum_bench_search';
const cli = benchArgs(
  usage,
  () =>
    parseArgs({
      options: {
        duration: { type: 'string', default: '30' },
        'search-connections': { type: 'string', default: '8' },
        'host-connections': { type: 'string', default: '16' },
        runs: { type: 'string', default: '3' },
        db: { type: 'string', default: admin.toString() },
        help: { type: 'boolean', default: false },
      },
    }).values,
);
const duration = Number(cli.duration);
const runs = Number(cli.runs);
const searchConnections = Number(cli['search-connections']);
const hostConnections = Number(cli['host-connections']);
if (![duration, runs, searchConnections, hostConnections].every((n) => Number.isInteger(n) && n >= 1)) {
  usageExit('--duration, --runs and the connection counts take whole numbers ≥ 1', usage);
}
const root = fileURLToPath(new URL('../', import.meta.url));
const log = (m: string) => process.stderr.write(`${m}\n`);
const fail = (m: string): never => {
  log(m);
  process.exit(2);
};
try {
  execFileSync('wrk', ['--version'], { stdio: 'ignore' });
} catch (e) {
  // wrk --version exits 1 after printing its version; only a missing binary is an error.
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') fail('wrk is not installed: apt-get install -y wrk');
}
requireFreshBundle(root);

const store = await openStore(loadConfig({ ...process.env, PLUM_DATABASE_URL: cli.db }));
const [{ n }] = (await store.query<{ n: number }>('select count(*)::int as n from port_observations')) as [{ n: number }];
if (n === 0) fail(`no port documents in ${cli.db}: build them with \`npx tsx bench/search.ts --keep --runs 1\``);
const ips = (
  await store.query<{ ip: string }>(
    "select host(ip) as ip from (select distinct ip from port_observations where current and state = 'open' limit 20000) s order by random() limit 1000",
  )
).map((r) => r.ip);
const { key, info } = await createApiKey(store, { role: 'viewer', name: `bench-api-load-${process.pid}` });

const QUERIES = [
  'port:443',
  'port:2222 banner.lk:dropbear',
  'http_server.lk:nginx',
  'http_server.lk:litespeed port:8443',
  'http_title.bg:"index of"',
  'http_title.bg:"HP iLO"',
  'x509_san.lk:vpn.hooli4',
  'tag:vuln:opendir',
  'tag:vendor:paloalto',
  '(port:22 OR port:2222) banner.lk:debian NOT tag:os:ubuntu',
  'http_headval:server.bg:microsoft-iis',
  'since:2 port:3389',
];
const searchPaths = [
  ...QUERIES.map((q) => `/v1/search?q=${encodeURIComponent(q)}&limit=50`),
  `/v1/search?q=${encodeURIComponent('port:22 port:443')}&by=host&limit=50`,
  `/v1/search?q=${encodeURIComponent('openssh debian')}&mode=token&limit=50`,
];
const hostPaths = ips.map((ip) => `/v1/hosts/${ip}`);

const dir = mkdtempSync(path.join(tmpdir(), 'plum-api-load-'));
/** wrk script: cycles through the paths, counts non-2xx answers, prints JSON figures at the end. */
function wrkScript(paths: string[]): string {
  const file = path.join(dir, `paths-${paths.length}-${Math.random().toString(36).slice(2)}.lua`);
  writeFileSync(
    file,
    `
local paths = { ${paths.map((p) => JSON.stringify(p)).join(', ')} }
local i = 0
local bad = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) i = math.random(#paths) end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], { ["Authorization"] = "Bearer ${key}" })
end
function response(status, headers, body) if status < 200 or status > 299 then bad = bad + 1 end end
function done(summary, latency, requests)
  local errors = 0
  for _, t in ipairs(threads) do errors = errors + (t:get("bad") or 0) end
  io.write(string.format('{"requests":%d,"seconds":%.3f,"p50_ms":%.2f,"p95_ms":%.2f,"p99_ms":%.2f,"non_2xx":%d,"socket_errors":%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    errors, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
`,
  );
  return file;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Jiffies of a process (utime + stime) and of the whole machine (busy and idle), to split a phase's CPU. */
function cpuOf(pids: number[]): { procs: number; busy: number; idle: number } {
  let procs = 0;
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      procs += Number(f[11]) + Number(f[12]);
    } catch {
      // the process ended
    }
  }
  const all = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
  const idle = all[3]! + all[4]!;
  return { procs, busy: all.reduce((a, b) => a + b, 0) - idle, idle };
}
const postgresPids = (): number[] => execFileSync('pgrep', ['-f', 'postgres'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);

const port = await freePort();
const server = spawn(path.join(root, 'bin', 'plum.mjs'), ['serve', '--port', String(port), '--no-scheduler'], {
  env: { ...process.env, PLUM_DATABASE_URL: cli.db, PLUM_API_EXPENSIVE_PER_MINUTE: '100000000', PLUM_LOG_LEVEL: 'warn' },
  stdio: ['ignore', 'ignore', 'inherit'],
});
const base = `http://127.0.0.1:${port}`;
try {
  for (let i = 0; ; i++) {
    if (i > 100) throw new Error('plum serve did not answer /v1/health within 20 s');
    const ok = await fetch(`${base}/v1/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const phases = [
    { name: 'search', paths: searchPaths, connections: searchConnections, goalRate: 200, goalP95: 100 },
    { name: 'host page', paths: hostPaths, connections: hostConnections, goalRate: 500, goalP95: 50 },
  ];
  const load = loadavg();
  log(`${n.toLocaleString('en')} port documents; ${runs} runs of ${duration} s per phase`);
  for (const phase of phases) {
    const script = wrkScript(phase.paths);
    // Warm-up: caches and JIT, as a server that has been up for a while.
    execFileSync('wrk', ['-t2', `-c${phase.connections}`, '-d5s', '-s', script, base], { stdio: 'ignore' });
    const results = [];
    for (let r = 0; r < runs; r++) {
      const before = cpuOf([server.pid!]);
      const pgBefore = cpuOf(postgresPids());
      const out = execFileSync('wrk', ['-t2', `-c${phase.connections}`, `-d${duration}s`, '--timeout', '10s', '-s', script, base], { encoding: 'utf8' });
      const after = cpuOf([server.pid!]);
      const pgAfter = cpuOf(postgresPids());
      const figures = JSON.parse(out.trim().split('\n').at(-1)!) as {
        requests: number;
        seconds: number;
        p50_ms: number;
        p95_ms: number;
        p99_ms: number;
        non_2xx: number;
        socket_errors: number;
      };
      const total = after.busy - before.busy + (after.idle - before.idle);
      results.push({
        ...figures,
        rate: Number((figures.requests / figures.seconds).toFixed(1)),
        cpu_share: {
          plum: Number(((after.procs - before.procs) / total).toFixed(2)),
          postgres: Number(((pgAfter.procs - pgBefore.procs) / total).toFixed(2)),
          idle: Number(((after.idle - before.idle) / total).toFixed(2)),
        },
      });
    }
    const sorted = [...results].sort((a, b) => a.rate - b.rate);
    const med = sorted[Math.floor(sorted.length / 2)]!;
    const errors = results.reduce((s, r) => s + r.non_2xx + r.socket_errors, 0);
    const met = med.rate >= phase.goalRate && med.p95_ms < phase.goalP95 && errors === 0;
    console.log(JSON.stringify({ phase: phase.name, connections: phase.connections, documents: n, runs: results }));
    console.log(
      `${phase.name}: ${med.rate} requests/s, p50 ${med.p50_ms} ms, p95 ${med.p95_ms} ms, p99 ${med.p99_ms} ms, ${errors} errors (median run of ${runs}, ${phase.connections} connections); CPU: plum ${Math.round(med.cpu_share.plum * 100)}%, PostgreSQL ${Math.round(med.cpu_share.postgres * 100)}%, idle ${Math.round(med.cpu_share.idle * 100)}% — goal ≥ ${phase.goalRate}/s with p95 < ${phase.goalP95} ms, no error: ${met ? 'met' : 'NOT met'}`,
    );
  }
  console.log(
    `load average at start ${load.map((x) => x.toFixed(1)).join(' ')}, at end ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')} on ${cpus().length} CPUs`,
  );
} finally {
  server.kill('SIGTERM');
  await revokeApiKey(store, info.id).catch(() => {});
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
