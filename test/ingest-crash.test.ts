import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from '../store/index.ts';
import { ROOT, runPlum } from './helpers/cli.ts';
import { makeTestConfig, storeKinds, cliEnvOf } from './helpers/db.ts';
import { writeNmapXml } from './helpers/nmap-xml.ts';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'nmap');

/** Hosts with current open ports and no host score, and hosts owed a score. */
async function scoreState(config: Parameters<typeof openStore>[0]) {
  const store = await openStore(config);
  try {
    const unscored = (await store.query<{ ip: string }>(
      `select distinct host(o.ip) as ip from port_observations o
        where o.current and o.state = 'open' and not exists (select 1 from host_scores h where h.ip = o.ip) order by 1`)).map((r) => r.ip);
    const pending = (await store.query<{ ip: string }>('select host(ip) as ip from pending_rescores order by 1')).map((r) => r.ip);
    const [obs] = await store.query<{ n: number }>("select count(*)::int as n from port_observations where current and state = 'open'");
    return { unscored, pending, observations: obs!.n };
  } finally {
    await store.close();
  }
}

describe.each(storeKinds)('plum ingest killed with SIGKILL mid-import (%s)', (kind) => {
  it('leaves the hosts it did not score owed, and the next ingest scores them and says so', async () => {
    let landed = false;
    // The kill must land after a batch committed and before its hosts were scored: look at the
    // database after each kill, and try again later in the import when it came too early or too late.
    for (const delayMs of [3000, 5000, 8000, 12_000, 17_000]) {
      const { config, drop } = await makeTestConfig(kind);
      try {
        const env = cliEnvOf(config);
        // Created and migrated first, so the kill lands in the import itself.
        expect((await runPlum(['ingest', path.join(FIXTURES, 'loopback-ssh.xml')], env)).code).toBe(0);
        const big = writeNmapXml(path.join(config.home, 'big.xml'), { hosts: 1500, ports: 2 });
        const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'plum.mjs'), 'ingest', big], { env: { ...process.env, ...env }, cwd: ROOT, stdio: 'ignore' });
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        await new Promise((r) => setTimeout(r, delayMs));
        child.kill('SIGKILL');
        await exited;

        const after = await scoreState(config);
        if (after.unscored.length === 0) continue; // nothing committed yet, or every committed host already scored
        landed = true;
        // Every host left without a score is recorded as owed.
        expect(after.unscored.filter((ip) => !after.pending.includes(ip))).toEqual([]);

        const next = await runPlum(['ingest', path.join(FIXTURES, 'loopback-http.xml')], env);
        expect(next.code, next.stderr).toBe(0);
        expect(next.stderr).toMatch(new RegExp(`^plum: scored ${after.pending.length} hosts? an interrupted import had left unscored`, 'm'));
        const healed = await scoreState(config);
        expect(healed.unscored).toEqual([]);
        expect(healed.pending).toEqual([]);
        expect(healed.observations).toBeGreaterThanOrEqual(after.observations);
        break;
      } finally {
        await drop();
        fs.rmSync(config.home, { recursive: true, force: true });
      }
    }
    expect(landed, 'no kill landed between a commit and its scoring').toBe(true);
  }, 600_000);
});
