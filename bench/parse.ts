/*
 * Parse + fingerprint throughput on a synthetic nmap XML built from real host
 * templates (the fixtures in test/fixtures/nmap, real nmap output).
 *
 *   npx tsx bench/parse.ts [--mb 60] [--keep] [--sequential | --workers N]
 *
 * Default: parseNmapStream's default mode (`workers: 'auto'`: worker threads
 * when a core is idle); --sequential parses in the calling thread and
 * --workers N forces N threads, for comparison. Prints MB/s,
 * hosts/s, ports/s, CPU time (process.cpuUsage counts every thread) and peak
 * RSS (threads share the process RSS: sampled every 20 ms, and the kernel's
 * max RSS). Goal (issue #2): ≥ 26 MB/s, ≥ 2,600 hosts/s, peak RSS < 200 MB
 * whatever the file size.
 */
import { createWriteStream, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { autoWorkers, openXmlFile, parseNmapStream } from '../core/nmap/parse.ts';

const args = process.argv.slice(2);
const mbArg = args.indexOf('--mb');
const targetMb = mbArg >= 0 ? Number(args[mbArg + 1]) : 60;
const keep = args.includes('--keep');
const workersArg = args.indexOf('--workers');
const workers: 'auto' | number = args.includes('--sequential') ? 0 : workersArg >= 0 ? Number(args[workersArg + 1]) : 'auto';
const resolved = workers === 'auto' ? autoWorkers() : workers;
const mode = `${workers === 'auto' ? 'default (auto)' : `--workers ${workers}`}: ${resolved === 0 ? 'in-thread' : `${resolved} worker thread${resolved > 1 ? 's' : ''} + the main thread`}`;
if (!Number.isFinite(targetMb) || targetMb <= 0 || (typeof workers === 'number' && !(workers >= 0))) {
  process.stderr.write('usage: npx tsx bench/parse.ts [--mb N] [--keep] [--sequential | --workers N]\n');
  process.exit(2);
}
const loadAtStart = loadavg();

const fixtures = fileURLToPath(new URL('../test/fixtures/nmap/', import.meta.url));

/** Every <host> element of every fixture file, as text. */
function templates(): string[] {
  const out: string[] = [];
  for (const f of readdirSync(fixtures).filter((n) => n.endsWith('.xml')).sort()) {
    const xml = readFileSync(path.join(fixtures, f), 'utf8');
    for (const m of xml.matchAll(/<host[\s>][\s\S]*?<\/host>/g)) out.push(m[0]);
  }
  return out;
}

async function synthesise(file: string, bytes: number): Promise<{ hosts: number; bytes: number }> {
  const all = templates();
  // A perimeter result as the agents keep it: hosts with open ports (and their
  // scripts), plus one host in ten without any (down, or all filtered).
  const rich = all.filter((h) => h.includes('state="open"'));
  const poor = all.filter((h) => !h.includes('state="open"')).slice(0, Math.max(1, Math.ceil(rich.length / 9)));
  const pool = [...rich, ...poor];
  const out = createWriteStream(file);
  const write = (s: string) => (out.write(s) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
  await write('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n<nmaprun scanner="nmap" args="nmap -Pn -p 22,80,443 synthetic" start="1700000000" startstr="x" version="7.93" xmloutputversion="1.05">\n<scaninfo type="connect" protocol="tcp" numservices="3" services="22,80,443"/>\n<verbose level="0"/>\n<debugging level="0"/>\n');
  let written = 0;
  let n = 0;
  while (written < bytes) {
    const t = pool[n % pool.length]!;
    // A distinct address per host (text only: nothing is scanned).
    const ip = `127.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
    const h = t.replace(/<address addr="[^"]*" addrtype="ipv4"\/>/, `<address addr="${ip}" addrtype="ipv4"/>`) + '\n';
    await write(h);
    written += Buffer.byteLength(h);
    n++;
    if (n % 5000 === 0) await write(`<taskprogress task="Connect Scan" time="1700000001" percent="${(50).toFixed(2)}" remaining="1" etc="1700000002"/>\n`);
  }
  await write(`<runstats><finished time="1700003600" timestr="x" summary="x" elapsed="3600" exit="success"/><hosts up="${n}" down="0" total="${n}"/></runstats>\n</nmaprun>\n`);
  await new Promise<void>((r) => out.end(() => r()));
  return { hosts: n, bytes: statSync(file).size };
}

const dir = mkdtempSync(path.join(tmpdir(), 'plum-bench-'));
const file = path.join(dir, 'synthetic.xml');
try {
  process.stderr.write(`synthesising ${targetMb} MB of nmap XML from ${templates().length} real host templates…\n`);
  const made = await synthesise(file, targetMb * 1024 * 1024);
  if (global.gc) global.gc();
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const started = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  let hosts = 0;
  let ports = 0;
  let lastReport = Date.now();
  const stream = parseNmapStream(openXmlFile(file), { workers });
  for await (const h of stream) {
    hosts++;
    ports += h.ports.length;
    if ((hosts & 1023) === 0) {
      peak = Math.max(peak, process.memoryUsage().rss);
      if (Date.now() - lastReport > 2000 && process.stderr.isTTY) {
        process.stderr.write(`\r${hosts} hosts…`);
        lastReport = Date.now();
      }
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuUsed = process.cpuUsage(cpuStart);
  const cpu = cpuUsed.user + cpuUsed.system;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  if (stream.error) throw stream.error;
  if (hosts !== made.hosts) throw new Error(`parsed ${hosts} hosts, wrote ${made.hosts}`);
  const mb = made.bytes / 1024 / 1024;
  const maxRssMb = process.resourceUsage().maxRSS / 1024;
  const figures = {
    file_mb: Number(mb.toFixed(1)),
    hosts,
    ports,
    seconds: Number(seconds.toFixed(2)),
    mb_per_s: Number((mb / seconds).toFixed(1)),
    hosts_per_s: Math.round(hosts / seconds),
    ports_per_s: Math.round(ports / seconds),
    rss_before_parse_mb: Number((rssBefore / 1024 / 1024).toFixed(0)),
    peak_rss_mb: Number((peak / 1024 / 1024).toFixed(0)),
    cpu_seconds: Number((cpu / 1e6).toFixed(2)),
    mb_per_cpu_s: Number((mb / (cpu / 1e6)).toFixed(1)),
    max_rss_mb_process: Number(maxRssMb.toFixed(0)),
    mode,
    threads_used: stream.threads,
    load_at_start: loadAtStart.map((x) => Number(x.toFixed(2))),
  };
  process.stderr.write('\r');
  console.log(JSON.stringify(figures));
  const ok = figures.mb_per_s >= 26 && figures.hosts_per_s >= 2600 && figures.peak_rss_mb < 200;
  console.log(`${mode}; load average at start ${loadAtStart.map((x) => x.toFixed(1)).join(' ')}, at end ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${cpus().length} CPUs; ${figures.cpu_seconds} CPU-seconds, ${figures.mb_per_cpu_s} MB per CPU-second`);
  console.log(`parse+fingerprint: ${figures.mb_per_s} MB/s, ${figures.hosts_per_s} hosts/s, ${figures.ports_per_s} ports/s, peak RSS ${figures.peak_rss_mb} MB (process max ${figures.max_rss_mb_process} MB) on ${figures.file_mb} MB / ${hosts} hosts — goal ${ok ? 'met' : 'NOT met'} (≥26 MB/s, ≥2,600 hosts/s, <200 MB)`);
} finally {
  if (keep) process.stderr.write(`kept ${file}\n`);
  else rmSync(dir, { recursive: true, force: true });
}
