import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlumConfig } from '../core/config.ts';
import { openStore } from '../store/index.ts';
import { runPlum } from './helpers/cli.ts';
import { cliEnvOf, makeTestConfig, storeKinds } from './helpers/db.ts';
import { createTestNet, scratchDir, type TestNet } from './helpers/netns.ts';

/*
 * Two-stage profiles end to end (`plum run` embedded): masscan sweeps the targets × the profile's TCP ports,
 * then nmap scans, with the profile's scripts, only the pairs that answered. Both scanners run in the
 * scanner's network namespace (test/helpers/netns.ts: a veth pair on 198.18.0.0/15 with no route out) through
 * two-line wrappers, as an agent started there runs them; plum itself reaches its database as usual.
 */

let net: TestNet;
let dir: string;
let runs = 0;
const prefix = () => net.serviceIps[0]!.split('.').slice(0, 3).join('.');

beforeAll(async () => {
  net = await createTestNet(180 + (process.pid % 20));
  dir = scratchDir();
  for (const tool of ['masscan', 'nmap']) {
    fs.writeFileSync(path.join(dir, tool), `#!/bin/sh\nexec ip netns exec ${net.scanNs} ${tool} "$@"\n`, { mode: 0o755 });
  }
}, 60_000);
afterAll(async () => {
  await net?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe.each(storeKinds)('a two-stage profile run (%s)', (kind) => {
  let config: PlumConfig;
  let env: Record<string, string>;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const t = await makeTestConfig(kind);
    config = t.config;
    drop = t.drop;
    env = {
      ...cliEnvOf(config),
      PLUM_NMAP: path.join(dir, 'nmap'),
      PLUM_MASSCAN: path.join(dir, 'masscan'),
      PLUM_MASSCAN_INTERFACE: net.scanIf,
      PLUM_MASSCAN_ROUTER_MAC: net.serviceMac,
      PLUM_MASSCAN_MAX_RATE: '5000',
      PLUM_MASSCAN_WAIT: '2',
    };
  });
  afterAll(async () => drop?.());

  const plum = async (...args: string[]) => {
    // Each scan's probes leave from a fresh source address (a reused one may meet the previous scan's state).
    const r = await runPlum(args, { ...env, PLUM_MASSCAN_SOURCE_IP: `${prefix()}.${100 + ++runs}` });
    expect(r.code, r.stderr).toBe(0);
    return r;
  };
  const query = async <T>(sql: string, params: unknown[] = []) => {
    const store = await openStore(config);
    try {
      return await store.query<T>(sql, params);
    } finally {
      await store.close();
    }
  };
  const lastRunJobs = async () =>
    query<{ stage: string; targets: string[]; tcp_ports: string; scripts: string[]; status: string }>(
      `select stage, targets, tcp_ports, scripts, status from jobs where run_id = (select id from runs where kind = 'profile' order by started_at desc limit 1) order by index`,
    );
  const events = async (type: string) =>
    query<{ ip: string; port: number; view: string }>(
      `select host(e.ip) as ip, e.port, o.view from observation_events e join port_observations o on o.id = e.observation_id where e.type = $1 order by 1, 2`,
      [type],
    );

  it("scouts with masscan, then scans only the pairs that answered with nmap and the profile's scripts", async () => {
    await net.startServices('plum two-stage');
    await plum('target', 'add', `${prefix()}.8-${prefix()}.15`);
    const added = await plum('profile', 'add', 'wide', '--ports', '22,80,443', '--scripts', 'http-title', '--scout-rate', '2000', '--host-timeout', '30s');
    expect(added.stderr).toMatch(/scouting at 2000 packets\/s/);
    const r = await plum('run', 'wide');
    expect(r.stderr).toMatch(/1 scouting job \(masscan\) first/);
    const jobs = await lastRunJobs();
    expect(jobs.map((j) => [j.stage, j.targets, j.tcp_ports, j.scripts, j.status])).toEqual([
      ['scout', [`${prefix()}.8-15`], '22,80,443', [], 'succeeded'],
      ['scan', net.serviceIps, '22,80', ['http-title'], 'succeeded'],
    ]);
    const found = JSON.parse((await plum('search', 'http_title:"plum two-stage"', '--format', 'json')).stdout) as Array<{ ip: string }>;
    expect(found.map((h) => h.ip).sort()).toEqual(net.serviceIps);
    const appeared = await events('appeared');
    expect(appeared.map((e) => `${e.ip}:${e.port}`)).toEqual(net.serviceIps.flatMap((ip) => [`${ip}:22`, `${ip}:80`]));
    // `plum runs RUN_ID` tells the two kinds of jobs apart, as the API's job objects do.
    const [last] = await query<{ id: string }>(`select id from runs where kind = 'profile' order by started_at desc limit 1`);
    const shown = (await plum('runs', last!.id)).stdout;
    expect(shown).toMatch(/scout \(masscan\)/);
    expect(shown).toMatch(/scan \(nmap\)/);
    const json = JSON.parse((await plum('runs', last!.id, '--format', 'json')).stdout) as { jobs: { stage: string }[] };
    expect(json.jobs.map((j) => j.stage)).toEqual(['scout', 'scan']);
  }, 360_000);

  it('a port that stopped answering is gone for that port only; nmap scans what still answers', async () => {
    await net.startServices('plum two-stage', [22]);
    await plum('run', 'wide');
    const jobs = await lastRunJobs();
    expect(jobs.map((j) => [j.stage, j.targets, j.tcp_ports])).toEqual([
      ['scout', [`${prefix()}.8-15`], '22,80,443'],
      ['scan', net.serviceIps, '22'],
    ]);
    expect((await events('gone')).map((e) => `${e.ip}:${e.port}`)).toEqual(net.serviceIps.map((ip) => `${ip}:80`));
  }, 360_000);

  it('a host that answers nothing any more is not declared gone, and gets no nmap job', async () => {
    // The second address: taking the first off the interface would take every secondary address of its subnet too.
    const [still, quiet] = net.serviceIps as [string, string];
    net.silence(quiet);
    try {
      await plum('run', 'wide');
      const jobs = await lastRunJobs();
      expect(jobs.map((j) => [j.stage, j.targets, j.tcp_ports])).toEqual([
        ['scout', [`${prefix()}.8-15`], '22,80,443'],
        ['scan', [still], '22'],
      ]);
      // Only the two `gone` of the previous run: port 22 of the silent host stays open in the history.
      expect((await events('gone')).map((e) => `${e.ip}:${e.port}`)).toEqual(net.serviceIps.map((ip) => `${ip}:80`));
      const open = await query<{ state: string }>(`select state from port_observations where host(ip) = $1 and port = 22 and current`, [quiet]);
      expect(open).toEqual([{ state: 'open' }]);
    } finally {
      net.silence(quiet, true);
    }
  }, 360_000);

  it('an excluded service address is left out of the sweep: no nmap job, no event, while it still answers', async () => {
    const [excluded, kept] = net.serviceIps as [string, string];
    // Port 80 answers again on both addresses: scanned, the excluded one would show it reappeared.
    await net.startServices('plum two-stage');
    const eventsAt = (ip: string) =>
      query<{ type: string; port: number }>(`select type, port from observation_events where host(ip) = $1 order by at, id`, [ip]);
    const before = await eventsAt(excluded);
    // Its port 80 went away in an earlier test: were it scanned now, a `reappeared` would follow.
    expect(before).toContainEqual({ type: 'gone', port: 80 });
    await plum('target', 'add', '--exclude', excluded);
    try {
      await plum('run', 'wide');
      const jobs = await lastRunJobs();
      expect(jobs.map((j) => [j.stage, j.targets, j.tcp_ports, j.status])).toEqual([
        ['scout', [`${prefix()}.8-9`, `${prefix()}.11-15`], '22,80,443', 'succeeded'],
        ['scan', [kept], '22,80', 'succeeded'],
      ]);
      expect(await eventsAt(excluded)).toEqual(before);
      // The other address was scanned as usual: its port 80 is back.
      expect((await events('reappeared')).map((e) => `${e.ip}:${e.port}:${e.view}`)).toContain(`${kept}:80:masscan`);
    } finally {
      await plum('target', 'rm', excluded);
    }
  }, 360_000);
});
