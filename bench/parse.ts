/*
 * `plum parse` against the predecessor's own parser (`nmap2json`, installed from the Python
 * package index), end to end as users run them: each command reads the same synthetic nmap XML
 * file and writes its JSON to /dev/null, in turns (Plum, nmap2json, Plum, …), and the medians of
 * wall time, CPU time and peak memory (the kernel's accounting of each child: bench/lib/rusage.py)
 * are compared.
 *
 *   python3 -m venv /tmp/n2j && /tmp/n2j/bin/pip install nmap2json==2610.1
 *   npx tsx bench/parse.ts --python /tmp/n2j/bin/python [--shape rich|mixed|both] [--runs 5] [--mb 60] [--hosts 5000] [--keep]
 *
 * Shapes, both built from real nmap output (test/fixtures/nmap), one distinct address per host:
 * - rich: copies of the host in circl.xml (`nmap -A`: three ports, nine scripts, a TLS
 *   certificate, about 10 KB a host), the predecessor's own kind of data;
 * - mixed: every fixture host with open ports, plus one host in ten without any.
 *
 * Plum runs as `bin/plum.mjs parse FILE` (the bundle in dist/: run `npm run build` first, the
 * bench refuses a stale one), nmap2json as `python -m nmap2json -i FILE` (full mode: every host
 * and port, as `plum parse` prints them). Goal: Plum at least 2× as fast as nmap2json on every
 * shape, under 200 MB peak memory.
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchArgs, requireFreshBundle, usageExit } from './lib/cli.ts';

const usage = 'usage: npx tsx bench/parse.ts [--python PATH] [--shape rich|mixed|both] [--runs N] [--mb N] [--hosts N] [--keep]';
const cli = benchArgs(
  usage,
  () =>
    parseArgs({
      options: {
        python: { type: 'string', default: 'python3' },
        shape: { type: 'string', default: 'both' },
        runs: { type: 'string', default: '5' },
        mb: { type: 'string', default: '60' },
        hosts: { type: 'string', default: '5000' },
        keep: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }).values,
);
const runs = Number(cli.runs);
const targetMb = Number(cli.mb);
const richHosts = Number(cli.hosts);
const shapes = cli.shape === 'both' ? ['rich', 'mixed'] : [cli.shape];
if (
  !Number.isInteger(runs) ||
  runs < 1 ||
  !(targetMb > 0) ||
  !Number.isInteger(richHosts) ||
  richHosts < 1 ||
  !shapes.every((s) => s === 'rich' || s === 'mixed')
) {
  usageExit('--runs and --hosts take whole numbers ≥ 1, --mb a positive number, --shape rich, mixed or both', usage);
}
const root = fileURLToPath(new URL('../', import.meta.url));
requireFreshBundle(root);
const peerVersion = (() => {
  try {
    return execFileSync(cli.python, ['-c', 'import importlib.metadata as m; print(m.version("nmap2json"))'], { encoding: 'utf8' }).trim();
  } catch {
    process.stderr.write(
      `${cli.python} cannot import nmap2json: python3 -m venv /tmp/n2j && /tmp/n2j/bin/pip install nmap2json==2610.1, then --python /tmp/n2j/bin/python\n`,
    );
    process.exit(2);
  }
})();

const fixtures = fileURLToPath(new URL('../test/fixtures/nmap/', import.meta.url));

/** Every <host> element of every fixture file, as text. */
function templates(): string[] {
  const out: string[] = [];
  for (const f of readdirSync(fixtures)
    .filter((n) => n.endsWith('.xml'))
    .sort()) {
    const xml = readFileSync(path.join(fixtures, f), 'utf8');
    for (const m of xml.matchAll(/<host[\s>][\s\S]*?<\/host>/g)) out.push(m[0]);
  }
  return out;
}

const NMAP_HEAD =
  '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n<nmaprun scanner="nmap" args="nmap -Pn -A -p 22,80,443 synthetic" start="1700000000" startstr="x" version="7.93" xmloutputversion="1.05">\n<scaninfo type="connect" protocol="tcp" numservices="3" services="22,80,443"/>\n<verbose level="0"/>\n<debugging level="0"/>\n';

/** Writes hosts from `pool` in turn, each with its own address, until `done` says so. */
async function synthesise(file: string, pool: string[], done: (hosts: number, bytes: number) => boolean): Promise<{ hosts: number; bytes: number }> {
  const out = createWriteStream(file);
  const write = (s: string) => (out.write(s) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
  await write(NMAP_HEAD);
  let written = 0;
  let n = 0;
  while (!done(n, written)) {
    const t = pool[n % pool.length]!;
    // A distinct address per host (text only: nothing is scanned).
    const ip = `127.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
    const h = t.replace(/<address addr="[^"]*" addrtype="ipv4"\/>/, `<address addr="${ip}" addrtype="ipv4"/>`) + '\n';
    await write(h);
    written += Buffer.byteLength(h);
    n++;
  }
  await write(
    `<runstats><finished time="1700003600" timestr="x" summary="x" elapsed="3600" exit="success"/><hosts up="${n}" down="0" total="${n}"/></runstats>\n</nmaprun>\n`,
  );
  await new Promise<void>((r) => out.end(() => r()));
  return { hosts: n, bytes: statSync(file).size };
}

function poolOf(shape: string): string[] {
  const all = templates();
  if (shape === 'rich') return [all.find((h) => h.includes('185.194.93.14'))!];
  const rich = all.filter((h) => h.includes('state="open"'));
  const poor = all.filter((h) => !h.includes('state="open"')).slice(0, Math.max(1, Math.ceil(rich.length / 9)));
  return [...rich, ...poor];
}

interface Usage {
  exit: number;
  wall_s: number;
  cpu_s: number;
  max_rss_mb: number;
}
const rusage = path.join(root, 'bench', 'lib', 'rusage.py');
const measure = (cmd: string[]): Usage =>
  JSON.parse(execFileSync('python3', [rusage, ...cmd], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })) as Usage;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const dir = mkdtempSync(path.join(tmpdir(), 'plum-bench-'));
const load = loadavg();
try {
  const results = [];
  for (const shape of shapes) {
    const file = path.join(dir, `${shape}.xml`);
    const made =
      shape === 'rich'
        ? await synthesise(file, poolOf(shape), (n) => n >= richHosts)
        : await synthesise(file, poolOf(shape), (_n, bytes) => bytes >= targetMb * 1024 * 1024);
    const mb = made.bytes / 1024 / 1024;
    process.stderr.write(`${shape}: ${mb.toFixed(1)} MB, ${made.hosts} hosts; ${runs} runs each, in turns…\n`);
    const plum: Usage[] = [];
    const peer: Usage[] = [];
    for (let i = 0; i < runs; i++) {
      plum.push(measure([path.join(root, 'bin', 'plum.mjs'), 'parse', file]));
      peer.push(measure([cli.python, '-m', 'nmap2json', '-i', file]));
      if (plum.at(-1)!.exit !== 0 || peer.at(-1)!.exit !== 0)
        throw new Error(`a run failed: plum exit ${plum.at(-1)!.exit}, nmap2json exit ${peer.at(-1)!.exit}`);
    }
    const sum = (us: Usage[]) => ({
      wall_s: median(us.map((u) => u.wall_s)),
      cpu_s: median(us.map((u) => u.cpu_s)),
      max_rss_mb: Math.max(...us.map((u) => u.max_rss_mb)),
    });
    const p = sum(plum);
    const q = sum(peer);
    const r = {
      shape,
      file_mb: Number(mb.toFixed(1)),
      hosts: made.hosts,
      runs,
      plum: { ...p, mb_per_s: Number((mb / p.wall_s).toFixed(1)), hosts_per_s: Math.round(made.hosts / p.wall_s) },
      nmap2json: { version: peerVersion, ...q, mb_per_s: Number((mb / q.wall_s).toFixed(1)) },
      ratio_wall: Number((q.wall_s / p.wall_s).toFixed(2)),
      ratio_cpu: Number((q.cpu_s / p.cpu_s).toFixed(2)),
      all_runs: { plum, nmap2json: peer },
    };
    results.push(r);
    console.log(JSON.stringify(r));
    const met = r.ratio_wall >= 2 && p.max_rss_mb < 200;
    console.log(
      `${shape} (${r.file_mb} MB, ${made.hosts} hosts): plum ${p.wall_s} s wall, ${p.cpu_s} s CPU, peak ${p.max_rss_mb} MB; nmap2json ${peerVersion} ${q.wall_s} s wall, ${q.cpu_s} s CPU, peak ${q.max_rss_mb} MB → ${r.ratio_wall}× (wall), ${r.ratio_cpu}× (CPU); goal ≥ 2× and < 200 MB: ${met ? 'met' : 'NOT met'}`,
    );
  }
  console.log(
    `load average at start ${load.map((x) => x.toFixed(1)).join(' ')}, at end ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')} on ${cpus().length} CPUs (medians of ${runs} runs; compare only figures taken on a quiet machine)`,
  );
} finally {
  if (cli.keep) process.stderr.write(`kept ${dir}\n`);
  else rmSync(dir, { recursive: true, force: true });
}
