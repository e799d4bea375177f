/**
 * Planning benchmark: how long planJobs takes over a perimeter of about
 * 2,000,000 addresses. Run: npx tsx bench/plan.ts [--addresses 2000000]
 * Pure computation; nothing is scanned.
 */
import { parseArgs } from 'node:util';
import { planJobs, summarisePlan, type PlanTarget } from '../core/plan.ts';
import { WEB_PROFILE } from '../core/profiles.ts';
import { bigIntToAddress, parseTarget } from '../core/targets.ts';

const { values } = parseArgs({ options: { addresses: { type: 'string', default: '2000000' } } });
const goal = Number(values.addresses);

/** Deterministic pseudo-random numbers (mulberry32) so runs are comparable. */
function rng(seed: number) {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function report(name: string, texts: string[], make: (texts: string[]) => PlanTarget[]) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const targets = make(texts);
  const parseMs = ms(t0);
  const t1 = process.hrtime.bigint();
  const jobs = planJobs(WEB_PROFILE, targets);
  const planMs = ms(t1);
  const s = summarisePlan(WEB_PROFILE, jobs);
  const cpu = process.cpuUsage(c0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  const heapMb = Math.round(process.memoryUsage().heapUsed / 1e6);
  console.log(
    `${name}: ${texts.length} targets → ${s.jobs} jobs, ${s.addresses} addresses, ${s.names} names, ${s.probes} probes; ` +
      `parse ${(parseMs / 1000).toFixed(2)} s, plan ${(planMs / 1000).toFixed(2)} s, total ${((parseMs + planMs) / 1000).toFixed(2)} s wall (${cpuS.toFixed(2)} s CPU), heap ${heapMb} MB`,
  );
  if (jobs.some((j) => j.addressCount > 256)) throw new Error('a job holds more than 256 units');
}

// 1. A national-CSIRT-like perimeter: blocks from /16 down to single addresses, some exclusions, names.
{
  const rand = rng(42);
  const texts: string[] = [];
  const excludes: string[] = [];
  let total = 0;
  let base = 0x0b000000; // 11.0.0.0 onwards: planning only, nothing is scanned
  while (total < goal) {
    const r = rand();
    const prefix = r < 0.02 ? 16 : r < 0.15 ? 20 : r < 0.5 ? 24 : r < 0.75 ? 28 : 32;
    const size = 2 ** (32 - prefix);
    base = Math.ceil(base / size) * size;
    texts.push(prefix === 32 ? bigIntToAddress(BigInt(base), 4) : `${bigIntToAddress(BigInt(base), 4)}/${prefix}`);
    if (prefix <= 24 && rand() < 0.05) excludes.push(`${bigIntToAddress(BigInt(base + 10), 4)}-${bigIntToAddress(BigInt(base + 19), 4)}`);
    total += size;
    base += size + (rand() < 0.3 ? size : 0);
  }
  const names = Array.from({ length: 20_000 }, (_, i) => `host${i}.example${i % 50}.org`);
  report('mixed perimeter', [...texts, ...names, ...excludes], () => [
    ...texts.map((v) => ({ value: parseTarget(v) })),
    ...names.map((v) => ({ value: parseTarget(v) })),
    ...excludes.map((v) => ({ value: parseTarget(v), exclude: true })),
  ]);
}

// 2. Worst case: every address declared on its own, scattered, in random order.
{
  const rand = rng(7);
  const texts: string[] = [];
  let addr = 0x0c000000;
  for (let i = 0; i < goal; i++) {
    addr += 1 + Math.floor(rand() * 3);
    texts.push(bigIntToAddress(BigInt(addr), 4));
  }
  for (let i = texts.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [texts[i], texts[j]] = [texts[j]!, texts[i]!];
  }
  report('single addresses', texts, (list) => list.map((v) => ({ value: parseTarget(v) })));
}
