import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMasscanScanner } from '../activities/masscan.ts';
import type { ScanProgress } from '../core/scanner/contract.ts';
import { createTestNet, scratchDir, type TestNet } from './helpers/netns.ts';

/*
 * The masscan scanner (activities/masscan.ts) against real masscan: the test services run in a network
 * namespace joined to the scanner's by a veth pair on 198.18.0.0/15 with no route out (test/helpers/netns.ts);
 * masscan runs in the scanner's namespace through a two-line wrapper, as an agent started there would run it.
 */

let net: TestNet;
let dir: string;
let wrapper: string;
let sources = 0;
const prefix = () => net.serviceIps[0]!.split('.').slice(0, 3).join('.');

/** A scanner whose probes leave from a fresh source address (a reused one may meet the previous scan's state). */
const scanner = (maxRate = 2000, killGraceMs?: number) =>
  createMasscanScanner({
    masscanPath: wrapper,
    ...(killGraceMs !== undefined ? { killGraceMs } : {}),
    settings: { maxRate, interface: net.scanIf, routerMac: net.serviceMac, sourceIp: `${prefix()}.${100 + ++sources}`, waitSeconds: 2 },
  });

const running = (pattern: string) => {
  try {
    return execFileSync('pgrep', ['-f', pattern]).toString().trim() !== '';
  } catch {
    return false;
  }
};

beforeAll(async () => {
  net = await createTestNet(160 + (process.pid % 20));
  dir = scratchDir();
  wrapper = path.join(dir, 'masscan-in-ns');
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${net.scanNs} masscan "$@"\n`, { mode: 0o755 });
  await net.startServices('plum scanner');
}, 60_000);
afterAll(async () => {
  await net?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the masscan scanner', () => {
  it('finds the open ports of the services, reports progress, and reads them into the masscan view', async () => {
    const progress: ScanProgress[] = [];
    const job = { targets: [`${prefix()}.0/28`], tcpPorts: '22,80,443', options: { rate: 1000 } };
    const out = await scanner().run(job, { onProgress: (p) => progress.push(p) });
    expect(out.interrupted).toBe(false);
    expect(out.exitCode).toBe(0);
    expect(out.args).toEqual(expect.arrayContaining(['--rate', '1000', '--interface', net.scanIf, `${prefix()}.0/28`]));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)!.percent).toBe(100);
    // 16 addresses × 3 ports, one probe each: the progress counts the packets masscan has sent.
    expect(progress.at(-1)!.packets).toBe(48);
    expect(progress.every((p, i) => i === 0 || p.packets! >= progress[i - 1]!.packets!)).toBe(true);
    const result = scanner().read(out.output, job);
    expect(result.finished).toBe(true);
    expect(result.view).toBe('masscan');
    expect(result.hosts.map((h) => [h.ip, h.ports.map((p) => `${p.protocol}/${p.port}:${p.state}`)]).sort()).toEqual(
      net.serviceIps.map((ip) => [ip, ['tcp/22:open', 'tcp/80:open']]),
    );
  }, 60_000);

  it('refuses a rate above the configured maximum before starting masscan', async () => {
    await expect(scanner(100).run({ targets: [net.serviceIps[0]!], tcpPorts: '22', options: { rate: 101 } })).rejects.toThrow(
      /rate 101 is above this scanner's maximum of 100/,
    );
  });

  it.each(['cancelled', 'timeout'] as const)(
    'a %s scan stops masscan and keeps what it found so far',
    async (why) => {
      // 2 addresses × 2,000 ports at 300 packets a second: 15 to 25 s unless stopped. masscan sends in a random order, so a
      // cancellation waits until most probes are out (then the services' four ports have almost surely answered).
      // The cancelled scan is killed 200 ms after its SIGINT, before masscan writes its file: what it found must
      // still come back, from the lines it printed. The timed-out one has the default grace.
      const job = { targets: net.serviceIps, tcpPorts: '1-2000', options: { rate: 300, wait: 1 }, ...(why === 'timeout' ? { timeoutMs: 6000 } : {}) };
      const abort = new AbortController();
      const s = why === 'cancelled' ? scanner(2000, 200) : scanner();
      const started = Date.now();
      const out = await s.run(job, { signal: abort.signal, onProgress: (p) => why === 'cancelled' && p.percent >= 85 && abort.abort() });
      expect(Date.now() - started).toBeLessThan(why === 'cancelled' ? 45_000 : 20_000);
      expect(out.interrupted).toBe(true);
      expect(out.interruptReason).toBe(why);
      expect(running(`masscan.*${s.settings.sourceIp}`)).toBe(false);
      const result = s.read(out.output, job);
      // Not `finished`: an interrupted scan with an empty file reads as finished with nothing; ingest goes by `interrupted`.
      if (why === 'cancelled') {
        expect(out.exitCode).toBeNull();
        expect(result.hosts.flatMap((h) => h.ports).length, out.stderr.slice(-300)).toBeGreaterThan(0);
        for (const h of result.hosts) expect(net.serviceIps).toContain(h.ip);
      }
    },
    60_000,
  );
});
