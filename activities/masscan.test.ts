import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMasscanScanner, masscanProbes } from './masscan.ts';

describe('masscanProbes: the packets a scouting job sends (one per address and port)', () => {
  it.each([
    ['one address, one port', { targets: ['198.18.0.1'], tcpPorts: '22' }, 1],
    ['a /28 on three ports', { targets: ['198.18.0.0/28'], tcpPorts: '22,80,443' }, 48],
    ['a range and a port range', { targets: ['198.18.0.8-15'], tcpPorts: '8000-8009' }, 80],
    ['overlapping targets counted once', { targets: ['198.18.0.0/30', '198.18.0.2-5'], tcpPorts: '22' }, 6],
    ['TCP and UDP ports', { targets: ['198.18.0.0/31'], tcpPorts: '22,80', udpPorts: '53' }, 6],
    ['names are not swept', { targets: ['www.example.org', '198.18.0.1'], tcpPorts: '22' }, 1],
  ])('%s', (_what, job, expected) => {
    expect(masscanProbes(job)).toBe(expected);
  });
});

/*
 * masscan's receive thread sometimes never ends once its wait is over: it then prints `waiting -N-secs` for
 * ever and ignores SIGINT. This stand-in for the masscan binary does exactly that (it sends no packet), so the
 * runner's way out is tested on every run rather than when the real one happens to hang.
 */
describe('a masscan that hangs past its wait', () => {
  let dir: string;
  let hung: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-masscan-hang-'));
    hung = path.join(dir, 'masscan');
    fs.writeFileSync(
      hung,
      [
        '#!/bin/sh',
        "trap '' INT",
        'echo "Discovered open port 22/tcp on 198.18.0.3"',
        'echo "Discovered open port 80/tcp on 198.18.0.2"',
        'n=1',
        'while :; do printf "rate:  0.00-kpps, 100.00%% done, waiting -%s-secs, found=2       \\r" $n >&2; n=$((n + 1)); sleep 0.01; done',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is stopped, and its sweep counts as complete with every port it announced', async () => {
    const scanner = createMasscanScanner({ masscanPath: hung, settings: { maxRate: 1000, waitSeconds: 1 }, killGraceMs: 300 });
    const started = Date.now();
    const out = await scanner.run({ targets: ['198.18.0.0/30'], tcpPorts: '22,80', options: { rate: 100 } });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(out.interrupted).toBe(false);
    expect(out.interruptReason).toBeUndefined();
    const read = scanner.read(out.output, {} as never);
    expect(read.finished).toBe(true);
    expect(read.hosts.map((h) => [h.ip, h.ports.map((p) => `${p.port}:${p.state}`)]).sort()).toEqual([
      ['198.18.0.2', ['80:open']],
      ['198.18.0.3', ['22:open']],
    ]);
  });

  it('a cancellation while it hangs is still a cancellation', async () => {
    const scanner = createMasscanScanner({ masscanPath: hung, settings: { maxRate: 1000, waitSeconds: 1 }, killGraceMs: 300 });
    const out = await scanner.run({ targets: ['198.18.0.0/30'], tcpPorts: '22' }, { signal: AbortSignal.timeout(50) });
    expect(out.interrupted).toBe(true);
    expect(out.interruptReason).toBe('cancelled');
  });
});
