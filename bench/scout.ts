/*
 * Two-stage profiles (masscan scouting, then nmap on what answered) against nmap alone, over a mostly
 * silent range of simulated targets:
 *   npx tsx bench/scout.ts [--prefix 24] [--rate 10000] [--ports 22,80,443,8080] [--runs 1] [--keep-net] [--modes two-stage,nmap-alone]
 *   (--modes two-stage --prefix 16: the two-stage run of a whole /16, which nmap alone would take about a day to match)
 *
 * Needs root, iproute2, masscan and nmap. Two network namespaces joined by a veth pair, nothing else
 * (no default route in either, so nothing can leave them):
 * - the scanner's: 198.18.0.1/24 on its end of the pair, and a route of 198.19.0.0/16 through the services'
 *   end (198.18.0.2). masscan and nmap run there (`ip netns exec`, through two-line wrappers as
 *   PLUM_MASSCAN / PLUM_NMAP), masscan sending from its own source address on the /24;
 * - the services': 198.18.0.2/24, and 16 addresses of the measured range (198.19.0.0/PREFIX), spread
 *   over it, each with a few of the ports open (bench/lib/scout-services.mjs); closed ports of these
 *   addresses answer RST. Every other address of the range is silent: its probes reach the services'
 *   namespace, which does not forward (a new namespace's default) and drops them without any answer,
 *   as a filtered or unused address on the internet would.
 *
 * Each run adds the range as a target to a fresh embedded home (PGlite) and runs, with `plum run`
 * (the bundle in dist/: run `npm run build` first), (a) a profile with `--scout-rate RATE` and (b) the
 * same profile without it (nmap alone, with the profile's normal options: -Pn, -T3, two retries). Both
 * run `http-title` on what they find. Prints each one's wall time and packets sent (the scanner's
 * interface's tx_packets before and after), the medians over --runs, and what each found, which must be
 * the same (ip, port) pairs (exit 1 otherwise).
 *
 * nmap alone spends minutes per job of 256 mostly silent addresses (PLUM_JOB_SIZE), waiting rather than
 * probing: about 6 minutes per /24 on the 2-core build machine, so a /16 would take about a day and a /20
 * over an hour (bench/HISTORY.md). The measured default is therefore a /24, with the /16 extrapolated:
 * nmap alone linearly in the addresses (its jobs are 256 addresses each); two-stage adds masscan's further
 * probes at RATE and its wait for late answers (PLUM_MASSCAN_WAIT, 5 s) per further scouting job of 4,096
 * addresses, the nmap stage scanning the same 16 hosts. `--prefix 16` measures the /16 itself.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openStore } from '../store/index.ts';
import { runPlum } from '../test/helpers/cli.ts';
import { cliEnvOf, makeTestConfig } from '../test/helpers/db.ts';
import { benchArgs, requireFreshBundle, usageExit } from './lib/cli.ts';

const usage =
  'usage: npx tsx bench/scout.ts [--prefix 16-24] [--rate PACKETS_PER_S] [--ports 22,80,443,8080] [--runs N] [--keep-net] [--modes two-stage,nmap-alone]';
const cli = benchArgs(
  usage,
  () =>
    parseArgs({
      options: {
        prefix: { type: 'string', default: '24' },
        rate: { type: 'string', default: '10000' },
        ports: { type: 'string', default: '22,80,443,8080' },
        runs: { type: 'string', default: '1' },
        'keep-net': { type: 'boolean', default: false },
        modes: { type: 'string', default: 'two-stage,nmap-alone' },
        help: { type: 'boolean', default: false },
      },
    }).values,
);
const prefix = Number(cli.prefix);
const rate = Number(cli.rate);
const runs = Number(cli.runs);
const ports = cli.ports.split(',').map((p) => Number(p.trim()));
type Mode = 'two-stage' | 'nmap alone';
const MODE_NAMES: Record<string, Mode> = { 'two-stage': 'two-stage', 'nmap-alone': 'nmap alone' };
const modes = [...new Set(cli.modes.split(',').map((m) => m.trim()))].map(
  (m) => MODE_NAMES[m] ?? usageExit(`--modes takes two-stage and/or nmap-alone, not "${m}"`, usage),
);
if (!Number.isInteger(prefix) || prefix < 16 || prefix > 24) usageExit('--prefix takes 16-24 (the range is 198.19.0.0/PREFIX)', usage);
if (!Number.isInteger(rate) || rate < 100 || rate > 1_000_000) usageExit('--rate takes packets per second, 100-1000000', usage);
if (!Number.isInteger(runs) || runs < 1 || runs > 20) usageExit('--runs takes 1-20', usage);
if (ports.length < 2 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535) || new Set(ports).size !== ports.length) {
  usageExit('--ports takes two or more distinct TCP ports, comma-separated, such as 22,80,443,8080', usage);
}
const root = fileURLToPath(new URL('../', import.meta.url));
requireFreshBundle(root);
if (process.getuid?.() !== 0) usageExit('the bench creates network namespaces: run it as root', usage);
for (const tool of ['masscan', 'nmap', 'ip']) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    usageExit(`${tool} is not installed (apt-get install -y ${tool === 'ip' ? 'iproute2' : tool})`, usage);
  }
}

const size = 2 ** (32 - prefix);
const range = `198.19.0.0/${prefix}`;
const ipOf = (n: number) => `198.19.${n >> 8}.${n & 255}`;
/** 16 service addresses spread over the range; ports[0] everywhere, the others on alternating addresses. */
const services = Array.from({ length: 16 }, (_, i) => ({
  ip: ipOf(Math.floor((i * size) / 16) + 10),
  ports: ports.filter((_, j) => j === 0 || (i + j) % 2 === 0),
}));
const expected = services.flatMap((s) => s.ports.map((p) => `${s.ip}:${p}`)).sort();

// The namespaces and the veth pair (interface names are at most 15 characters).
const tag = `${process.pid % 100000}`;
const scanNs = `plum-sb-scan-${tag}`;
const svcNs = `plum-sb-svc-${tag}`;
const scanIf = `psbs${tag}`;
const svcIf = `psbv${tag}`;
const ip = (args: string[]) => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
let servicesProcess: ChildProcess | undefined;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-scout-bench-'));
const homes: Array<() => Promise<void>> = [];

function teardown(): void {
  if (servicesProcess && servicesProcess.exitCode === null) servicesProcess.kill('SIGTERM');
  if (!cli['keep-net'])
    for (const ns of [scanNs, svcNs])
      try {
        ip(['netns', 'del', ns]);
      } catch {
        /* not there */
      }
  fs.rmSync(dir, { recursive: true, force: true });
}
process.on('SIGINT', () => {
  teardown();
  process.exit(130);
});

async function setUp(): Promise<string> {
  for (const ns of [scanNs, svcNs]) ip(['netns', 'add', ns]);
  ip(['link', 'add', scanIf, 'type', 'veth', 'peer', 'name', svcIf]);
  ip(['link', 'set', scanIf, 'netns', scanNs]);
  ip(['link', 'set', svcIf, 'netns', svcNs]);
  ip(['-n', scanNs, 'addr', 'add', '198.18.0.1/24', 'dev', scanIf]);
  ip(['-n', svcNs, 'addr', 'add', '198.18.0.2/24', 'dev', svcIf]);
  for (const s of services) ip(['-n', svcNs, 'addr', 'add', `${s.ip}/32`, 'dev', svcIf]);
  for (const [ns, dev] of [
    [scanNs, scanIf],
    [svcNs, svcIf],
    [scanNs, 'lo'],
    [svcNs, 'lo'],
  ] as const)
    ip(['-n', ns, 'link', 'set', dev, 'up']);
  ip(['-n', scanNs, 'route', 'add', '198.19.0.0/16', 'via', '198.18.0.2', 'dev', scanIf]);
  for (const ns of [scanNs, svcNs]) {
    if (/default/.test(ip(['-n', ns, 'route', 'show']))) throw new Error(`namespace ${ns} has a default route`);
  }
  // Silent addresses stay silent only if the services' namespace does not forward (it would answer
  // "unreachable" or pass the probe on).
  if (ip(['netns', 'exec', svcNs, 'cat', '/proc/sys/net/ipv4/ip_forward']).trim() !== '0') throw new Error(`namespace ${svcNs} forwards`);
  for (const tool of ['masscan', 'nmap']) {
    fs.writeFileSync(path.join(dir, tool), `#!/bin/sh\nexec ip netns exec ${scanNs} ${tool} "$@"\n`, { mode: 0o755 });
  }
  const child = spawn('ip', ['netns', 'exec', svcNs, process.execPath, path.join(root, 'bench', 'lib', 'scout-services.mjs'), JSON.stringify(services)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  servicesProcess = child;
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the bench services exited with ${code}`)));
    child.stdout!.once('data', () => resolve());
  });
  return /link\/ether ([0-9a-f:]{17})/.exec(ip(['-n', svcNs, 'link', 'show', svcIf]))![1]!;
}

const txPackets = () => Number(ip(['netns', 'exec', scanNs, 'cat', `/sys/class/net/${scanIf}/statistics/tx_packets`]).trim());
const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

interface Measure {
  wallMs: number;
  packets: number;
  found: string[];
}
let sourceHost = 100;

async function measure(mode: 'two-stage' | 'nmap alone', routerMac: string): Promise<Measure> {
  const made = await makeTestConfig('pglite');
  homes.push(made.drop);
  const env = {
    ...cliEnvOf(made.config),
    PLUM_NMAP: path.join(dir, 'nmap'),
    PLUM_MASSCAN: path.join(dir, 'masscan'),
    PLUM_LOG_LEVEL: 'warn',
    PLUM_MASSCAN_INTERFACE: scanIf,
    PLUM_MASSCAN_ROUTER_MAC: routerMac,
    PLUM_MASSCAN_MAX_RATE: String(rate),
    // Each scan's probes leave from a fresh source address (a reused one may meet the previous scan's state).
    PLUM_MASSCAN_SOURCE_IP: `198.18.0.${sourceHost++}`,
  };
  const plum = async (...args: string[]) => {
    const r = await runPlum(args, env);
    if (r.code !== 0) throw new Error(`plum ${args.join(' ')} exited with ${r.code}: ${r.stderr.trim()}`);
    return r;
  };
  await plum('target', 'add', range);
  await plum('profile', 'add', 'bench', '--ports', ports.join(','), '--scripts', 'http-title', ...(mode === 'two-stage' ? ['--scout-rate', String(rate)] : []));
  const before = txPackets();
  const t0 = performance.now();
  await plum('run', 'bench');
  const wallMs = performance.now() - t0;
  const packets = txPackets() - before;
  const store = await openStore(made.config);
  try {
    const rows = await store.query<{ ip: string; port: number }>(`select distinct host(ip) as ip, port from port_observations where protocol = 'tcp'`);
    return { wallMs, packets, found: rows.map((r) => `${r.ip}:${r.port}`).sort() };
  } finally {
    await store.close();
  }
}

let failed = false;
try {
  console.log(
    `Plum two-stage scouting benchmark: ${range} (${size} addresses, 16 answering, ${expected.length} open ports), ports ${ports.join(',')}, masscan at ${rate} packets/s, ${runs} run(s)\nbefore: ${uptime()}`,
  );
  const routerMac = await setUp();
  const results: Record<Mode, Measure[]> = { 'two-stage': [], 'nmap alone': [] };
  for (let i = 0; i < runs; i++) {
    for (const mode of modes) {
      const m = await measure(mode, routerMac);
      results[mode].push(m);
      const same = m.found.join() === expected.join();
      if (!same) failed = true;
      console.log(
        `run ${i + 1} ${mode.padEnd(10)} ${secs(m.wallMs).padStart(9)}  ${String(m.packets).padStart(8)} packets  found ${m.found.length} open ports${same ? '' : ` — NOT the ${expected.length} expected: missing ${expected.filter((e) => !m.found.includes(e)).join(' ') || 'none'}, extra ${m.found.filter((e) => !expected.includes(e)).join(' ') || 'none'}`}`,
      );
    }
  }
  const factor = 2 ** (prefix - 16);
  const summary = (mode: Mode) =>
    results[mode].length === 0 ? undefined : { wall: median(results[mode].map((m) => m.wallMs)), packets: median(results[mode].map((m) => m.packets)) };
  const two = summary('two-stage');
  const alone = summary('nmap alone');
  console.log(`\nmedians over ${runs} run(s), ${range}:`);
  if (two) console.log(`  two-stage   ${secs(two.wall)}, ${two.packets} packets`);
  if (alone) console.log(`  nmap alone  ${secs(alone.wall)}, ${alone.packets} packets`);
  if (two && alone)
    console.log(`  nmap alone / two-stage: ${(alone.wall / two.wall).toFixed(1)}× the time, ${(alone.packets / two.packets).toFixed(1)}× the packets`);
  if (factor > 1) {
    // Extrapolated to the /16: nmap alone linearly; two-stage adds masscan's further probes (ports × addresses) at the rate and its 5 s wait per further scouting job.
    const extraProbesS = ((factor - 1) * size * ports.length) / rate;
    const extraScoutJobs = 65_536 / 4096 - Math.ceil(size / 4096);
    const two16 = two ? two.wall + (extraProbesS + extraScoutJobs * 5) * 1000 : undefined;
    const alone16 = alone ? alone.wall * factor : undefined;
    console.log(`\nextrapolated to 198.19.0.0/16 (${factor}× the addresses, not measured):`);
    if (two && two16 !== undefined) console.log(`  two-stage   ≈ ${secs(two16)}, ≈ ${Math.round(two.packets + (factor - 1) * size * ports.length)} packets`);
    if (alone && alone16 !== undefined)
      console.log(`  nmap alone  ≈ ${secs(alone16)} (${(alone16 / 60_000).toFixed(0)} min), ≈ ${alone.packets * factor} packets`);
    if (two16 !== undefined && alone16 !== undefined) console.log(`  nmap alone / two-stage ≈ ${(alone16 / two16).toFixed(0)}× the time`);
  }
  console.log(`\nthe expected open ports found by every run: ${failed ? 'NO' : 'yes'}\nafter: ${uptime()}`);
} finally {
  teardown();
  for (const drop of homes) await drop();
}
process.exit(failed ? 1 : 0);
