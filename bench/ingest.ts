/**
 * End-to-end ingest benchmark: synthetic nmap XML (built from the real port
 * elements of test/fixtures/nmap, written to a temporary file before each
 * pass, untimed) → the file read and parsed as a stream → fingerprint →
 * ingestScanResult → PostgreSQL and PGlite, as `plum ingest FILE.xml` runs.
 * Three passes over the same hosts:
 * all new, all stable, 10% changed. Prints observations/s per pass and the
 * database size.
 *
 *   npx tsx bench/ingest.ts [--obs 1000000] [--drivers postgres,pglite] [--batch 500] [--preparse] [--rules] [--keep]
 *   (--parse-workers N: parse threads, default auto as `plum ingest`; --rules: tag rules and scores at ingest, as `plum ingest` runs them; without it, the store alone)
 *   (--young, with --rules: scores judged an hour after each pass's scan, as in a monitor's first two weeks, when
 *   every port is newly appeared and its score decays from sighting to sighting; without it they are judged at the
 *   wall clock, years after the synthetic scans, when no score moves any more)
 *   npx tsx bench/ingest.ts --obs 50000 --dump FILE.xml   (writes the first pass's XML and stops)
 *   npx tsx bench/ingest.ts --drivers postgres --db plum_bench_NNN --passes 2,3   (reuses a database kept with --keep)
 *   npx tsx bench/ingest.ts --drivers postgres --db plum_bench_NNN --passes 4   (pass 3's content again, all stable: repeatable)
 *   npx tsx bench/ingest.ts --drivers postgres --db plum_bench_NNN --passes 5; … --passes 6   (two profiles alternating: history per view)
 *   npx tsx bench/ingest.ts --drivers postgres --db COPY --passes 7   (a 10%-changed pass on a copy of a database kept at
 *   passes 3-6, `createdb -T plum_bench_NNN COPY`: repeatable at any size without the new pass)
 *   (--no-parse-only: skip the parse-only figure printed first, e.g. when profiling one pass)
 *   (--eager-docs: parse keeping every document, the parser's default, instead of on demand as `plum ingest`
 *   does: for A/B runs of core/nmap/host.ts DocumentsOnDemand)
 *   (--lazy-fields, with --rules: search fields on demand, as without rules, instead of extracted while
 *   parsing as `plum ingest` does: a stable pass whose stored tags follow the rules reads no fields; for A/B runs)
 *   (--node-defaults: node's default young generation; by default the bench runs node as the `plum`
 *   command and the systemd units do, with --max-semi-space-size=64, re-starting itself if needed)
 *
 * PostgreSQL: a scratch database is created on PLUM_BENCH_PG_URL
 * (default postgres://postgres@127.0.0.1:5432/test) and dropped afterwards.
 * The addresses are synthetic data in 127.0.0.0/8; nothing is scanned.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import path from 'node:path';
import postgres from 'postgres';
import { loadConfig } from '../core/config.ts';
import { parseNmapStream } from '../core/nmap/parse.ts';
import { openXmlFile } from '../core/nmap/read-file.ts';
import { ingestScanResult, scanFromStream, type IngestSummary } from '../store/ingest.ts';
import { openStore } from '../store/index.ts';
import { freshBenchDatabase } from './lib/database.ts';
import { createRuleIngestDeps, openRuleContext } from '../store/rules/index.ts';

// One strict parse of the flags: a mistyped one (or --help) must not start a quarter-hour run with the defaults.
const flag = (fallback?: string) => ({ type: 'string' as const, default: fallback });
const { values: opt } = (() => {
  try {
    return parseArgs({
      options: {
        obs: flag('1000000'),
        drivers: flag('postgres,pglite'),
        batch: flag('500'),
        passes: flag('1,2,3'),
        db: flag(''),
        'parse-workers': flag('auto'),
        dump: flag(''),
        preparse: { type: 'boolean' },
        rules: { type: 'boolean' },
        young: { type: 'boolean' },
        keep: { type: 'boolean' },
        'no-parse-only': { type: 'boolean' },
        'node-defaults': { type: 'boolean' },
        'eager-docs': { type: 'boolean' },
        'lazy-fields': { type: 'boolean' },
        help: { type: 'boolean' },
      },
    });
  } catch (e) {
    console.error(`bench/ingest.ts: ${(e as Error).message.split('. ')[0]}; see --help`);
    process.exit(2);
  }
})();
if (opt.help) {
  // The usage is this file's header comment.
  console.log(
    fs
      .readFileSync(new URL(import.meta.url), 'utf8')
      .split('\n */')[0]!
      .replace(/^\/\*\*\n/, '')
      .replace(/^ \* ?/gm, ''),
  );
  process.exit(0);
}

// Run node as `plum` runs it (bin/plum.mjs, deploy/systemd): the figures are the command's.
const YOUNG = '--max-semi-space-size=64';
if (!opt['node-defaults'] && !process.execArgv.some((a) => a.startsWith('--max-semi-space-size'))) {
  const child = spawnSync(process.execPath, [YOUNG, ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(child.status ?? 1);
}

const FIXTURES = process.env.PLUM_FIXTURES ?? new URL('../test/fixtures/nmap', import.meta.url).pathname;

const TOTAL_OBS = Number(opt.obs);
const DRIVERS = opt.drivers!.split(',');
const BATCH = Number(opt.batch);
/** Parse each pass into memory first and time the store alone (ingest without the parser). */
const PREPARSE = opt.preparse === true;
/** Runs only these passes (e.g. `--passes 2,3` with `--db` on a database a first pass filled and `--keep` kept). */
const PASSES = opt.passes!.split(',').map(Number);
if (PASSES.some((p) => ![1, 2, 3, 4, 5, 6, 7].includes(p))) {
  console.error(
    '--passes: a comma list of 1 (new), 2 (stable), 3 (10% changed), 4 (pass 3 again, stable), 5 (pass 4 through another view), 6 (then the first view again), 7 (10% changed again)',
  );
  process.exit(2);
}
/** An existing PostgreSQL bench database to reuse (never dropped). */
const REUSE_DB = opt.db!;
/** Tag rules and scores at ingest, as `plum ingest` and the scan activities run it (rules/ as shipped). */
const RULES = opt.rules === true;
/** `--young`: scores judged just after each pass's scan time (see the header), not at the wall clock. */
const YOUNG_MONITOR = opt.young === true;
if (YOUNG_MONITOR && !RULES) {
  console.error('--young judges scores: it needs --rules');
  process.exit(2);
}
/** `--eager-docs`: parse keeping every document (the parser's default) instead of on demand as `plum ingest` does; for A/B runs. */
const EAGER_DOCS = opt['eager-docs'] === true;
/** `--lazy-fields`, with --rules: fields on demand as without rules (a stable pass with lazy tagging reads none); for A/B runs. */
const LAZY_FIELDS = opt['lazy-fields'] === true;
/** Parse threads (parseNmapStream's `workers`): default 'auto', as `plum ingest` runs. */
const PARSE_WORKERS: number | 'auto' = opt['parse-workers'] === 'auto' ? 'auto' : Number(opt['parse-workers']);
if (PARSE_WORKERS !== 'auto' && !(Number.isInteger(PARSE_WORKERS) && PARSE_WORKERS >= 0)) {
  console.error('--parse-workers: auto or a whole number of threads (0 = in-thread)');
  process.exit(2);
}
const PORTS_PER_HOST = 4;
const HOSTS = Math.ceil(TOTAL_OBS / PORTS_PER_HOST);
const HOSTS_PER_CHUNK = 500;

/** Real open <port> elements by port number, from every fixture. */
function loadTemplates(): Map<string, string[]> {
  const byPort = new Map<string, string[]>();
  for (const f of fs.readdirSync(FIXTURES).filter((n) => n.endsWith('.xml'))) {
    const xml = fs.readFileSync(path.join(FIXTURES, f), 'utf8');
    for (const m of xml.matchAll(/<port protocol="tcp" portid="(\d+)">[\s\S]*?<\/port>/g)) {
      if (!/<state state="open"/.test(m[0])) continue;
      if (!byPort.has(m[1]!)) byPort.set(m[1]!, []);
      byPort.get(m[1]!)!.push(m[0]);
    }
  }
  return byPort;
}

const templates = loadTemplates();
const portIds = [...templates.keys()].sort((a, b) => Number(a) - Number(b));
if (portIds.length < PORTS_PER_HOST) throw new Error(`need ${PORTS_PER_HOST} distinct open ports in ${FIXTURES}`);

const ipOf = (i: number) => `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
/** Deterministic ~10% selection of (host, port) pairs for the "changed" pass. */
const changes = (i: number, k: number) => ((i * 2654435761 + k * 40503) >>> 0) % 10 === 0;

/** A pass's content: every port as its template (false), or the selected 10% with this banner appended. */
type Content = false | 'changed' | 'changed again';

function hostXml(i: number, t: number, content: Content): string {
  const ports: string[] = [];
  for (let k = 0; k < PORTS_PER_HOST; k++) {
    const id = portIds[(i + k * 3) % portIds.length]!;
    const variants = templates.get(id)!;
    let p = variants[i % variants.length]!;
    if (content && changes(i, k)) p = p.replace(/<\/port>$/, `<script id="banner" output="plum bench: ${content}"/></port>`);
    ports.push(p);
  }
  return (
    `<host starttime="${t}" endtime="${t + 10}"><status state="up" reason="syn-ack" reason_ttl="0"/>\n` +
    `<address addr="${ipOf(i)}" addrtype="ipv4"/>\n<hostnames>\n</hostnames>\n<ports>${ports.join('\n')}\n</ports>\n<times srtt="100" rttvar="50" to="100000"/>\n</host>\n`
  );
}

/** nmap's options in the XML's `args`: they decide the result's view (core/history/view.ts); passes 5 and 6 alternate two. */
const VIEW_OPTIONS = { plain: '-Pn', banner: '-Pn --script banner' } as const;
type ViewName = keyof typeof VIEW_OPTIONS;

async function* scanXml(t: number, content: Content, view: ViewName = 'plain'): AsyncGenerator<string> {
  const services = [...portIds].join(',');
  yield (
    `<?xml version="1.0" encoding="UTF-8"?>\n<nmaprun scanner="nmap" args="nmap ${VIEW_OPTIONS[view]} -p ${services}" start="${t}" version="7.93" xmloutputversion="1.05">\n` +
    `<scaninfo type="connect" protocol="tcp" numservices="${portIds.length}" services="${services}"/>\n`
  );
  for (let start = 0; start < HOSTS; start += HOSTS_PER_CHUNK) {
    const parts: string[] = [];
    for (let i = start; i < Math.min(HOSTS, start + HOSTS_PER_CHUNK); i++) parts.push(hostXml(i, t, content));
    yield parts.join('');
  }
  yield `<runstats><finished time="${t + 20}" timestr="" elapsed="20" exit="success"/><hosts up="${HOSTS}" down="0" total="${HOSTS}"/></runstats>\n</nmaprun>\n`;
}

/** Writes one pass's XML to a file (not timed): the passes then read it as `plum ingest FILE.xml` does. */
async function writeXml(file: string, t: number, content: Content, view: ViewName = 'plain'): Promise<void> {
  const out = fs.createWriteStream(file);
  for await (const part of scanXml(t, content, view)) if (!out.write(part)) await new Promise<void>((r) => out.once('drain', () => r()));
  await new Promise<void>((r, j) => out.end((e?: Error | null) => (e ? j(e) : r())));
}
const xmlDir = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-bench-xml-'));
process.on('exit', () => fs.rmSync(xmlDir, { recursive: true, force: true }));

const dirSize = (dir: string): number => {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? dirSize(p) : fs.statSync(p).size;
  }
  return n;
};
const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;

/** The pass's XML file, written once per process. */
const passFiles = new Map<string, string>();
async function passFile(t: number, content: Content, view: ViewName = 'plain'): Promise<string> {
  const key = `${t}-${content}-${view}`;
  let file = passFiles.get(key);
  if (!file) {
    file = path.join(xmlDir, `pass-${key}.xml`);
    await writeXml(file, t, content, view);
    passFiles.set(key, file);
  }
  return file;
}

async function parseOnly(): Promise<number> {
  const file = await passFile(1_700_000_000, false);
  const t0 = performance.now();
  let ports = 0;
  for await (const h of parseNmapStream(openXmlFile(file))) ports += h.ports.length;
  const s = (performance.now() - t0) / 1000;
  console.log(`parse only (XML → fingerprinted ports, no database): ${ports} ports in ${s.toFixed(1)} s = ${Math.round(ports / s)} obs/s`);
  return ports;
}

async function benchDriver(driver: string): Promise<void> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-bench-'));
  let dbName: string | undefined;
  const admin = process.env.PLUM_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const env: Record<string, string> = { PLUM_HOME: home };
  if (driver === 'postgres') {
    dbName = REUSE_DB || `plum_bench_${process.pid}`;
    if (REUSE_DB) {
      const u = new URL(admin);
      u.pathname = `/${dbName}`;
      env.PLUM_DATABASE_URL = u.toString();
    } else {
      env.PLUM_DATABASE_URL = await freshBenchDatabase(admin, dbName);
    }
  }
  const config = loadConfig(env);
  const store = await openStore(config);
  // The time scores are judged at: an hour after the current pass's scan with --young, else the wall clock.
  let judgedAt: Date | undefined;
  const ruleDeps = RULES ? createRuleIngestDeps(store, { ...(await openRuleContext(store, config)), now: () => judgedAt ?? new Date() }) : {};
  console.log(
    `\n== ${driver}${PREPARSE ? ' (store only: parsed beforehand)' : ' (end to end: XML → stored)'}${RULES ? `, with tag rules and scores${YOUNG_MONITOR ? ' judged just after each scan' : ''}` : ''}: ${HOSTS} hosts × ${PORTS_PER_HOST} ports = ${HOSTS * PORTS_PER_HOST} observations per pass, ${BATCH} hosts per transaction`,
  );
  try {
    const passes: Array<[string, number, Content, ViewName?]> = [
      ['1 new', 1_700_000_000, false],
      ['2 stable', 1_700_086_400, false],
      ['3 10% changed', 1_700_172_800, 'changed'],
      // Not run by default: pass 3's content a day later, all stable; repeatable on a kept database (`--db … --passes 4`).
      ['4 stable', 1_700_259_200, 'changed'],
      // Not run by default: two profiles alternating on the same services (history per view). Pass 5 sees pass 4's
      // content a day later through another view (nmap's args name a script: the first sighting in that view); pass 6
      // a day after it through the first view again. Repeating `--passes 5` and `--passes 6` on a kept database
      // alternates the two stable paths.
      ['5 other view', 1_700_345_600, 'changed', 'banner'],
      ['6 first view', 1_700_432_000, 'changed', 'plain'],
      // Not run by default: the same 10% changed again (another banner: new fingerprints) a day after pass 6, a
      // 10%-changed pass on a database kept at any of passes 3-6; run it on a copy (`createdb -T`) to repeat it.
      ['7 10% changed again', 1_700_518_400, 'changed again', 'plain'],
    ];
    for (const [name, t, content, view] of passes.filter((_, i) => PASSES.includes(i + 1))) {
      const file = await passFile(t, content, view);
      if (YOUNG_MONITOR) judgedAt = new Date((t + 3600) * 1000);
      let scan = scanFromStream(
        parseNmapStream(openXmlFile(file), { workers: PARSE_WORKERS, documentsOnDemand: !EAGER_DOCS, fieldsOnDemand: !EAGER_DOCS && (!RULES || LAZY_FIELDS) }),
      );
      if (PREPARSE) {
        const hosts = [];
        for await (const h of scan.hosts) hosts.push(h);
        scan = { run: scan.run, hosts };
      }
      const t0 = performance.now();
      let last = t0;
      const s: IngestSummary = await ingestScanResult(
        store,
        { scan, source: `bench ${name}` },
        {
          ...ruleDeps,
          batchHosts: BATCH,
          onProgress: (p) => {
            const now = performance.now();
            if (now - last > 10_000) {
              last = now;
              process.stderr.write(`  … ${p.ports} obs, ${Math.round(p.ports / ((now - t0) / 1000))} obs/s\n`);
            }
          },
        },
      );
      const secs = (performance.now() - t0) / 1000;
      console.log(
        `pass ${name.padEnd(14)} ${String(s.ports).padStart(8)} obs in ${secs.toFixed(1).padStart(6)} s = ${String(Math.round(s.ports / secs)).padStart(6)} obs/s ` +
          `(appeared ${s.appeared}, stable ${s.stable}, changed ${s.changed}, gone ${s.gone}${s.historic ? `, older ${s.historic}` : ''}${s.alreadyIngested ? `, already ingested ${s.alreadyIngested}` : ''})`,
      );
    }
    const [size] = await store.query<{ db: number; obs: number; rows: number; events: number }>(
      `select pg_database_size(current_database()) as db, pg_total_relation_size('port_observations') as obs,
         (select count(*) from port_observations) as rows, (select count(*) from observation_events) as events`,
    );
    console.log(
      `database size ${mb(size!.db)} (port_observations with indexes ${mb(size!.obs)}; ${size!.rows} observation rows, ${size!.events} events)` +
        (driver === 'pglite' ? `; PGlite directory ${mb(dirSize(path.join(home, 'db')))}` : ''),
    );
  } finally {
    await store.close();
    if (dbName && !REUSE_DB && !opt.keep) {
      const a = postgres(admin, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists "${dbName}" with (force)`);
      await a.end();
    }
    fs.rmSync(home, { recursive: true, force: true });
  }
}

const dump = opt.dump!;
if (dump) {
  // The first pass's XML, for profiling or for `plum ingest` by hand.
  await writeXml(dump, 1_700_000_000, false);
  console.log(`wrote ${dump}`);
  process.exit(0);
}
console.log(
  `plum ingest benchmark: ${os.cpus().length} cores, node ${process.version} ${process.execArgv.find((a) => a.startsWith('--max-semi-space-size')) ?? '(default young generation)'}, ${portIds.length} real port templates`,
);
if (!PREPARSE && !opt['no-parse-only']) await parseOnly();
for (const d of DRIVERS) await benchDriver(d);
