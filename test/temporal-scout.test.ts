import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST_TIMING, startDeployment, type Deployment } from './helpers/distributed.ts';
import { createTestNet, scratchDir, type TestNet } from './helpers/netns.ts';

/*
 * A two-stage profile on Temporal: the scouting job is an activity on an agent like an nmap job, its
 * masscan output goes to the server by claim check and is ingested there, and the nmap stage is planned
 * from it. The agent's scanners run in the scanner's network namespace (test/helpers/netns.ts) through
 * two-line wrappers; the agent itself stays where it reaches Temporal and the server. One job per workflow
 * execution, so the stage is carried across continue-as-new.
 */

let d: Deployment;
let net: TestNet;
let dir: string;
const prefix = () => net.serviceIps[0]!.split('.').slice(0, 3).join('.');

beforeAll(async () => {
  net = await createTestNet(140 + (process.pid % 20));
  dir = scratchDir();
  for (const tool of ['masscan', 'nmap']) {
    fs.writeFileSync(path.join(dir, tool), `#!/bin/sh\nexec ip netns exec ${net.scanNs} ${tool} "$@"\n`, { mode: 0o755 });
  }
  await net.startServices('plum temporal scout');
  d = await startDeployment({ agents: ['scout1'], timing: { ...FAST_TIMING, PLUM_TEMPORAL_JOBS_PER_EXECUTION: '1' } });
}, 240_000);
afterAll(async () => {
  await d?.close();
  await net?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('a two-stage profile run on Temporal', () => {
  it('scouts on the agent, ingests on the server, then runs nmap on the agent only where something answered', async () => {
    await d.ok(['target', 'add', `${prefix()}.8-${prefix()}.15`]);
    await d.ok(['profile', 'add', 'wide', '--ports', '22,80,443', '--scripts', 'http-title', '--scout-rate', '1000', '--every', '7d']);
    const agent = d.startAgent('scout1', {
      env: {
        PLUM_MASSCAN: path.join(dir, 'masscan'),
        PLUM_NMAP: path.join(dir, 'nmap'),
        PLUM_MASSCAN_INTERFACE: net.scanIf,
        PLUM_MASSCAN_ROUTER_MAC: net.serviceMac,
        PLUM_MASSCAN_SOURCE_IP: `${prefix()}.120`,
        PLUM_MASSCAN_WAIT: '2',
      },
    });
    try {
      const r = await d.plum(['run', 'wide', '--temporal', '--format', 'json']);
      expect(r.code, `${r.stderr} ${r.stdout}`).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', counters: { jobs: 2, jobsDone: 2 } });
      // The CLI follows both stages (masscan waits two seconds for late answers; the progress is polled every second).
      expect(r.stderr).toMatch(/plum: scouting \(masscan\): 0\/1 job done/);
      expect(r.stderr).toMatch(/plum: nmap stage: \d\/2 jobs done/);
      const jobs = await d.store.query<{ stage: string; targets: string[]; tcp_ports: string; agent: string; status: string }>(
        `select j.stage, j.targets, j.tcp_ports, j.agent, j.status from jobs j join runs r on r.id = j.run_id where r.profile_name = 'wide' order by j.index`,
      );
      // PLUM_JOB_SIZE is 2 here: the two service addresses fill one nmap job.
      expect(jobs).toEqual([
        { stage: 'scout', targets: [`${prefix()}.8-15`], tcp_ports: '22,80,443', agent: 'scout1', status: 'succeeded' },
        { stage: 'scan', targets: net.serviceIps, tcp_ports: '22,80', agent: 'scout1', status: 'succeeded' },
      ]);
      const views = await d.store.query<{ view: string; n: number }>(
        `select view, count(*)::int as n from port_observations where host(ip) like $1 group by view order by view`,
        [`${prefix()}.%`],
      );
      expect(views).toEqual([
        { view: 'masscan', n: 4 },
        { view: 'script:http-title', n: 4 },
      ]);
    } finally {
      await agent.stop(5000);
    }
  }, 300_000);
});
