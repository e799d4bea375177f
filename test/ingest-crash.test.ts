import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { openStore } from '../store/index.ts';
import { ROOT, runPlum } from './helpers/cli.ts';
import { makeTestConfig, storeKinds, cliEnvOf } from './helpers/db.ts';
import { writeNmapXml } from './helpers/nmap-xml.ts';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'nmap');

/** Bytes a process has written so far (files, pipes and sockets), from /proc. */
function writtenBytes(pid: number): number {
  try {
    return Number(/wchar:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Hosts with current open ports and no host score, and hosts owed a score. */
async function scoreState(config: Parameters<typeof openStore>[0]) {
  const store = await openStore(config);
  try {
    const unscored = (
      await store.query<{ ip: string }>(
        `select distinct host(o.ip) as ip from port_observations o
        where o.current and o.state = 'open' and not exists (select 1 from host_scores h where h.ip = o.ip) order by 1`,
      )
    ).map((r) => r.ip);
    const pending = (await store.query<{ ip: string }>('select host(ip) as ip from pending_rescores order by 1')).map((r) => r.ip);
    const [obs] = await store.query<{ n: number }>("select count(*)::int as n from port_observations where current and state = 'open'");
    return { unscored, pending, observations: obs!.n };
  } finally {
    await store.close();
  }
}

describe.each(storeKinds)('plum ingest killed with SIGKILL mid-import (%s)', (kind) => {
  it('leaves the hosts it did not score owed, the next ingest scores them and says so; a resumed import counts the whole result', async () => {
    let landed = false;
    // The kill must land after a batch committed and before its hosts were scored: look at the
    // database after each kill, and try again later in the import when it came too early or too late.
    const tried: string[] = [];
    // How far the import got: PGlite lives in the child, so what it wrote (database pages and WAL);
    // PostgreSQL can be asked, so the observations it committed.
    const steps = kind === 'pglite' ? [15, 30, 45, 60, 75, 90, 105, 120].map((mb) => mb * 1024 * 1024) : [1, 400, 800, 1200, 1600, 2000, 2400, 2800];
    for (const step of steps) {
      const { config, drop } = await makeTestConfig(kind);
      try {
        const env = cliEnvOf(config);
        // Created and migrated first, so the kill lands in the import itself.
        expect((await runPlum(['ingest', path.join(FIXTURES, 'loopback-ssh.xml')], env)).code).toBe(0);
        const big = writeNmapXml(path.join(config.home, 'big.xml'), { hosts: 1500, ports: 2 });
        const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'plum.mjs'), 'ingest', big], {
          env: { ...process.env, ...env },
          cwd: ROOT,
          stdio: 'ignore',
        });
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        // Killed once the import got to `step`: each attempt lands at another point of it.
        let running = true;
        void exited.then(() => (running = false));
        const pg = kind === 'postgres' ? postgres(config.PLUM_DATABASE_URL!, { max: 1, onnotice: () => {} }) : undefined;
        const progress = async () => (pg ? Number((await pg`select count(*)::int as n from port_observations`)[0]!.n) : writtenBytes(child.pid!));
        try {
          while (running && (await progress()) < step) await new Promise((r) => setTimeout(r, 10));
        } finally {
          child.kill('SIGKILL');
          await exited;
          await pg?.end({ timeout: 5 });
        }

        const after = await scoreState(config);
        tried.push(`${step}: ${after.observations} observations, ${after.unscored.length} hosts unscored`);
        if (after.unscored.length === 0) continue; // nothing committed yet, or every committed host already scored
        landed = true;
        // Every host left without a score is recorded as owed.
        expect(after.unscored.filter((ip) => !after.pending.includes(ip))).toEqual([]);

        const next = await runPlum(['ingest', path.join(FIXTURES, 'loopback-http.xml')], env);
        expect(next.code, next.stderr).toBe(0);
        expect(next.stderr).toMatch(new RegExp(`^plum: scored ${after.pending.length} hosts? an interrupted import had left unscored`, 'm'));
        // The killed import's run is not left `running`: its recorded process is gone.
        const interrupted = /^plum: run (run_\w+) was left running by a process that is gone: marked as interrupted/m.exec(next.stderr);
        expect(interrupted, next.stderr).not.toBeNull();
        const healed = await scoreState(config);
        expect(healed.unscored).toEqual([]);
        expect(healed.pending).toEqual([]);
        expect(healed.observations).toBeGreaterThanOrEqual(after.observations);

        // The same file again resumes the interrupted import: its run counts the whole result, not only the rest.
        const resumed = await runPlum(['ingest', big], env);
        expect(resumed.code, resumed.stderr).toBe(0);
        expect(resumed.stderr).toMatch(/already ingested/);
        const runId = /\[run (run_\w+),/.exec(resumed.stderr)![1]!;
        const store = await openStore(config);
        try {
          expect(runId).toBe(interrupted![1]);
          const [run] = await store.query<{ counters: Record<string, number>; status: string }>('select counters, status from runs where id = $1', [runId]);
          expect(run!.status).toBe('succeeded');
          expect(run!.counters).toMatchObject({ hosts: 1500, ports: 3000, appeared: 3000, changed: 0, gone: 0, reappeared: 0, stable: 0 });
        } finally {
          await store.close();
        }
        break;
      } finally {
        await drop();
        fs.rmSync(config.home, { recursive: true, force: true });
      }
    }
    expect(landed, `no kill landed between a commit and its scoring (${tried.join('; ')})`).toBe(true);
  }, 600_000);
});
