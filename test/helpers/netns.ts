import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/*
 * A test network for scanners that need raw packets (masscan): two network namespaces, one for the
 * scanner and one for the test services, joined by a veth pair addressed from 198.18.0.0/15 (the
 * benchmarking range), with no route out of either: nothing outside the pair can be reached, and nothing
 * but the test services is ever scanned. Needs root (CI runs as root) and iproute2.
 */

export interface TestNet {
  /** The scanner's namespace and interface. */
  scanNs: string;
  scanIf: string;
  /** The services' interface MAC: masscan sends every frame there (it has no router to resolve). */
  serviceMac: string;
  /** Addresses the services answer on. */
  serviceIps: string[];
  /** Runs a command in a namespace, returning its output. */
  run(ns: 'scan' | 'svc', cmd: string, args: string[], timeoutMs?: number): string;
  /** Runs a command in a namespace; false when it had to be killed at `timeoutMs`. */
  tryRun(ns: 'scan' | 'svc', cmd: string, args: string[], timeoutMs: number): boolean;
  /** Starts the test services (test/helpers/netns-services.mjs) in the services' namespace; `title` is the web page's title, `ports` those to open (default 22 and 80). */
  startServices(title: string, ports?: number[]): Promise<void>;
  /** Takes a service address off the services' interface: nothing answers there any more (`restore` puts it back). */
  silence(address: string, restore?: boolean): void;
  stopServices(): Promise<void>;
  destroy(): Promise<void>;
}

const ip = (args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

export async function createTestNet(subnet = 200 + (process.pid % 50), hosts = 2): Promise<TestNet> {
  const tag = `${process.pid % 100000}`;
  const scanNs = `plum-scan-${tag}`;
  const svcNs = `plum-svc-${tag}`;
  const scanIf = `pls${tag}`;
  const svcIf = `plv${tag}`;
  const prefix = `198.18.${subnet}`;
  const serviceIps = Array.from({ length: hosts }, (_, i) => `${prefix}.${10 + i}`);
  const cleanup = () => {
    for (const ns of [scanNs, svcNs])
      try {
        ip(['netns', 'del', ns]);
      } catch {
        /* not there */
      }
  };
  cleanup();
  ip(['netns', 'add', scanNs]);
  ip(['netns', 'add', svcNs]);
  ip(['link', 'add', scanIf, 'type', 'veth', 'peer', 'name', svcIf]);
  ip(['link', 'set', scanIf, 'netns', scanNs]);
  ip(['link', 'set', svcIf, 'netns', svcNs]);
  ip(['-n', scanNs, 'addr', 'add', `${prefix}.1/24`, 'dev', scanIf]);
  for (const a of serviceIps) ip(['-n', svcNs, 'addr', 'add', `${a}/24`, 'dev', svcIf]);
  for (const [ns, dev] of [
    [scanNs, scanIf],
    [svcNs, svcIf],
    [scanNs, 'lo'],
    [svcNs, 'lo'],
  ] as const)
    ip(['-n', ns, 'link', 'set', dev, 'up']);
  // No default route anywhere: only the /24 on the pair is reachable.
  for (const ns of [scanNs, svcNs]) {
    if (/default/.test(ip(['-n', ns, 'route', 'show']))) throw new Error(`namespace ${ns} has a default route`);
  }
  const serviceMac = /link\/ether ([0-9a-f:]{17})/.exec(ip(['-n', svcNs, 'link', 'show', svcIf]))![1]!;
  const run = (ns: 'scan' | 'svc', cmd: string, args: string[], timeoutMs = 120_000) =>
    execFileSync('ip', ['netns', 'exec', ns === 'scan' ? scanNs : svcNs, cmd, ...args], { timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  const tryRun = (ns: 'scan' | 'svc', cmd: string, args: string[], timeoutMs: number) => {
    const r = spawnSync('ip', ['netns', 'exec', ns === 'scan' ? scanNs : svcNs, cmd, ...args], { timeout: timeoutMs, killSignal: 'SIGKILL', stdio: 'ignore' });
    if (r.error && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') throw r.error;
    return r.status === 0;
  };
  let services: ChildProcess | undefined;
  const stopServices = async () => {
    const child = services;
    services = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  return {
    scanNs,
    scanIf,
    serviceMac,
    serviceIps,
    run,
    tryRun,
    silence(address, restore = false) {
      ip(['-n', svcNs, 'addr', restore ? 'add' : 'del', `${address}/24`, 'dev', svcIf]);
    },
    async startServices(title, ports = [22, 80]) {
      await stopServices();
      const script = path.join(import.meta.dirname, 'netns-services.mjs');
      const child = spawn('ip', ['netns', 'exec', svcNs, process.execPath, script, title, ports.join(',')], { stdio: ['ignore', 'pipe', 'inherit'] });
      services = child;
      await new Promise<void>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`test services exited with ${code}`)));
        child.stdout!.once('data', () => resolve());
      });
    },
    stopServices,
    async destroy() {
      await stopServices();
      cleanup();
    },
  };
}

/** A scratch directory for scanner output. */
export const scratchDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'plum-netns-'));
