import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_NSE_DIR } from '../../activities/nmap.ts';
import { createApp } from '../../api/app.ts';
import { loadConfig } from '../../core/config.ts';
import { silentLogger } from '../../core/log.ts';
import { startPerimeter, type Perimeter } from '../../demo/perimeter/index.ts';
import { createLegacyKey } from '../../store/repos/legacy-agents.ts';
import { addTargets } from '../../store/repos/targets.ts';
import { profileRequest, runEmbedded, runInvestigationEmbedded, type EmbeddedDeps } from '../../workers/embedded.ts';
import { addNseScript } from '../../store/repos/nse-scripts.ts';
import { saveProfile } from '../../store/repos/profiles.ts';
import type { RunSummary } from '../../workflows/logic/types.ts';
import { openStore } from '../../store/index.ts';
import { runPlum } from '../helpers/cli.ts';
import { legacyAgent, nextLegacyJob, scanAsLegacyAgent, type LegacyAgent, type LegacyJob } from '../helpers/legacy-agent.ts';
import { cliEnvOf, makeTestConfig, storeKinds, type TestStore } from '../helpers/db.ts';

/*
 * The predecessor's agent protocol (docs/migration.md, "Agents") spoken by the client
 * of test/helpers/legacy-agent.ts, as its Python agents speak it (real nmap on
 * the loopback perimeter, nmap2json results). The jobs come from a real
 * embedded run; test/temporal-legacy-bridge.test.ts covers Temporal.
 */
const JOB_TIMEOUT_SECONDS = 3;

describe.each(storeKinds)('/bot_api (%s)', (kind) => {
  let t: TestStore;
  let perimeter: Perimeter;
  let server: ServerType;
  let base: string;
  let key: string;
  let created: { code: number; stdout: string; stderr: string };
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-bot-api-'));

  const agent = (uid: string, agentKey = key): LegacyAgent =>
    legacyAgent(
      () => base,
      uid,
      () => agentKey,
    );
  const scan = (job: LegacyJob) => scanAsLegacyAgent(job, work);
  const nextJob = nextLegacyJob;

  function investigate(targets: string[], ports: string): Promise<RunSummary> {
    const deps: EmbeddedDeps = { store: t.store, config: t.config, log: silentLogger, legacyPollMs: 100 };
    return runInvestigationEmbedded(deps, { targets, tcpPorts: ports, scripts: ['plum-banner'], reason: 'legacy agents' });
  }

  beforeAll(async () => {
    perimeter = await startPerimeter();
    const made = await makeTestConfig(kind, { PLUM_LEGACY_BOT_API: '1', PLUM_LEGACY_JOB_TIMEOUT: String(JOB_TIMEOUT_SECONDS) });
    // The key as an operator makes it, before the server's store is open.
    created = await runPlum(['agent-token', 'create', '--legacy', '--note', 'site A'], cliEnvOf(made.config));
    key = created.stdout.trim();
    const store = await openStore(made.config);
    t = {
      store,
      config: made.config,
      cleanup: async () => {
        await store.close();
        await made.drop();
      },
    };
    await addTargets(t.store, [`${perimeter.prefix}.1-6`]);
    const app = createApp({ store: t.store, config: t.config });
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }, 240_000);
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await perimeter?.close();
    await t?.cleanup();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('plum agent-token create --legacy prints an 80-character key, stored only salted and hashed', async () => {
    expect(created.code, created.stderr).toBe(0);
    expect(key).toMatch(/^[A-Za-z0-9]{80}$/);
    expect(created.stderr).toMatch(/legacy agent key lkey_\w+ created/);
    const rows = await t.store.query<Record<string, unknown>>('select * from legacy_agent_keys');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ key_index: key.slice(0, 16), note: 'site A', hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(JSON.stringify(rows)).not.toContain(key.slice(16));
    // Another key gets another salt: the same key would not give the same hash twice.
    const other = await createLegacyKey(t.store);
    const [a, b] = await t.store.query<{ salt: string }>('select salt from legacy_agent_keys order by created_at');
    expect(a!.salt).not.toBe(b!.salt);
    expect(other.key).not.toBe(key);
    const bad = await runPlum(['agent-token', 'create', '--legacy', '--agent', 'x'], cliEnvOf(t.config));
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('is off unless PLUM_LEGACY_BOT_API is set', async () => {
    const off = createApp({ store: t.store, config: loadConfig({ PLUM_HOME: t.config.home }) });
    const res = await off.request('/bot_api/beacon', { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
  });

  it('full cycle: beacon, getjob, real nmap, sndjob, and the run records what the agent saw', async () => {
    const a = agent('0b6f3c52-2f7e-4d59-9a7c-4c1e1f7e0a01');
    expect(await a.post('beacon', {}, { contentType: 'text/plain' })).toEqual({ status: 200, body: { message: 'ready' } });
    expect(await a.post('getjob')).toEqual({ status: 200, body: { message: { message: 'ready', job: '' } } });
    const ssh = perimeter.service('ssh');
    const http = perimeter.service('http');
    const running = investigate([ssh.ip, http.ip], `${ssh.port},${http.port}`);
    const job = await nextJob(a);
    const claimedAt = Date.now();
    expect(job).toMatchObject({ message: 'ready', job_uid: expect.stringMatching(/^[0-9a-f-]{36}$/), nmap_nse: ['plum-banner.nse'] });
    expect(job.job.split(',').sort()).toEqual([ssh.ip, http.ip].sort());
    expect(job.nmap_ports.sort()).toEqual([String(ssh.port), String(http.port)].sort());
    expect(job.nse_scripts).toEqual([{ name: 'plum-banner.nse', hash: expect.stringMatching(/^[0-9a-f]{64}$/), content_b64: expect.any(String) }]);
    const result = await scan(job);
    await new Promise((r) => setTimeout(r, Math.max(0, claimedAt + 1200 - Date.now())));
    const sent = await a.post('sndjob', { JOB_UID: job.job_uid, RESULT: result }, { contentType: 'application/json' });
    expect(sent).toEqual({ status: 200, body: { message: 'ready' } });
    const summary = await running;
    expect(summary).toMatchObject({ status: 'succeeded', counters: { jobs: 1, jobsDone: 1 } });
    const rows = await t.store.query<{ ip: string; port: number; banner: string[] }>(
      `select host(ip) as ip, port, fields->'banner' as banner from port_observations where current order by ip, port`,
    );
    expect(rows.map((r) => `${r.ip}:${r.port}`)).toEqual([`${http.ip}:${http.port}`, `${ssh.ip}:${ssh.port}`].sort());
    expect(rows.find((r) => r.port === ssh.port)!.banner.join(' ')).toMatch(/SSH-2\.0-OpenSSH/);
    // The same result again: an idempotent 200, nothing new.
    const events = await t.store.query('select id from observation_events');
    expect(await a.post('sndjob', { JOB_UID: job.job_uid, RESULT: result })).toEqual({ status: 200, body: { message: 'ready' } });
    expect(await t.store.query('select id from observation_events')).toEqual(events);
  }, 300_000);

  it('answers every error code of §8', async () => {
    const a = agent('0b6f3c52-2f7e-4d59-9a7c-4c1e1f7e0a02');
    const b = agent('0b6f3c52-2f7e-4d59-9a7c-4c1e1f7e0a03');
    const stranger = agent('0b6f3c52-2f7e-4d59-9a7c-4c1e1f7e0a04');
    expect((await a.post('beacon', {}, { body: 'not json' })).status).toBe(400);
    expect(await a.post('beacon', { UID: 'short' })).toEqual({ status: 400, body: { message: expect.stringMatching(/^Invalid input: UID/) } });
    expect(await a.post('beacon', { AGENT_KEY: 'x'.repeat(79) })).toEqual({
      status: 400,
      body: { message: expect.stringMatching(/^Invalid input: AGENT_KEY/) },
    });
    expect(await a.post('beacon', { AGENT_KEY: `${key.slice(0, 16)}${'x'.repeat(64)}` })).toEqual({ status: 403, body: { message: 'forbidden' } });
    expect(await stranger.post('getjob')).toEqual({ status: 403, body: { message: 'forbidden' } });
    await a.post('beacon');
    await b.post('beacon');
    const ftp = perimeter.service('ftp');
    const running = investigate([ftp.ip], String(ftp.port));
    // The agent has the current plum-banner.nse cached: its hash only, no content (a cache hit).
    const banner = createHash('sha256')
      .update(fs.readFileSync(path.join(PROJECT_NSE_DIR, 'plum-banner.nse')))
      .digest('hex');
    const job = await nextJob(a, { NSE_HASHES: { 'plum-banner.nse': banner } });
    const claimedAt = Date.now();
    expect(job.nse_scripts).toEqual([{ name: 'plum-banner.nse', hash: banner }]);
    // 429: a result less than a second after the job started.
    expect(await a.post('sndjob', { JOB_UID: job.job_uid, RESULT: '[]' })).toEqual({ status: 429, body: { message: expect.any(String) } });
    expect(await a.post('sndjob', { JOB_UID: job.job_uid })).toEqual({ status: 400, body: { message: expect.stringMatching(/^Invalid input: RESULT/) } });
    expect(await a.post('sndjob', { JOB_UID: '0b6f3c52-0000-7000-8000-000000000000', RESULT: '[]' })).toEqual({
      status: 404,
      body: { message: 'unknown job' },
    });
    expect(await b.post('sndjob', { JOB_UID: job.job_uid, RESULT: '[]' })).toEqual({ status: 403, body: { message: 'job assigned to another agent' } });
    expect(await stranger.post('sndjob', { JOB_UID: job.job_uid, RESULT: '[]' })).toEqual({ status: 403, body: { message: 'forbidden' } });
    const result = await scan({
      ...job,
      nse_scripts: [{ name: 'plum-banner.nse', content_b64: fs.readFileSync(path.join(PROJECT_NSE_DIR, 'plum-banner.nse')).toString('base64') }],
    });
    // On a quiet machine nmap may finish within the second: past it, a bad result is a 400, not a 429.
    await new Promise((r) => setTimeout(r, Math.max(0, claimedAt + 1200 - Date.now())));
    expect(await a.post('sndjob', { JOB_UID: job.job_uid, RESULT: '[{"hostnames": []}]' })).toEqual({
      status: 400,
      body: { message: expect.stringMatching(/^Invalid input: RESULT: host document 1 has no addr/) },
    });
    expect((await a.post('sndjob', { JOB_UID: job.job_uid, RESULT: result })).status).toBe(200);
    expect(await running).toMatchObject({ status: 'succeeded' });
    // 409: a job that is not active (cancelled).
    // Settled as soon as it ends (the run stops waiting once its job is cancelled, perhaps before the assertion below).
    const cancelled = investigate([ftp.ip], String(ftp.port)).then(
      (s) => s.status,
      (e: unknown) => String(e),
    );
    const next = await nextJob(a);
    await t.store.query(`update jobs set status = 'cancelled' where id = (select id from jobs where agent = $1 and ingested_at is null)`, [`legacy:${a.uid}`]);
    expect(await a.post('sndjob', { JOB_UID: next.job_uid, RESULT: '[]' })).toEqual({ status: 409, body: { message: 'job is not active' } });
    // The run waiting for it stops waiting.
    expect(await cancelled).not.toBe('succeeded');
  }, 300_000);

  it("releases a silent agent's job after the timeout; another agent runs it; the silent one is then refused", async () => {
    const silent = agent('0b6f3c52-2f7e-4d59-9a7c-4c1e1f7e0a05');
    const other = agent('0b6f3c52-2f7e-4d59-9a7c-4c1e1f7e0a06');
    await silent.post('beacon');
    await other.post('beacon');
    const smtp = perimeter.service('smtp');
    const running = investigate([smtp.ip], String(smtp.port));
    const job = await nextJob(silent);
    expect((await other.post('getjob')).body.message.job).toBe('');
    await new Promise((r) => setTimeout(r, (JOB_TIMEOUT_SECONDS + 1) * 1000));
    const again = await nextJob(other);
    const claimedAt = Date.now();
    expect(again.job_uid).toBe(job.job_uid);
    const result = await scan(again);
    // A result within the job's first second is refused (429); nmap on loopback can be that fast.
    await new Promise((r) => setTimeout(r, Math.max(0, claimedAt + 1200 - Date.now())));
    expect((await other.post('sndjob', { JOB_UID: again.job_uid, RESULT: result })).status).toBe(200);
    expect(await running).toMatchObject({ status: 'succeeded', counters: { jobsDone: 1 } });
    expect(await silent.post('sndjob', { JOB_UID: job.job_uid, RESULT: '[]' })).toEqual({ status: 403, body: { message: 'job assigned to another agent' } });
    const [row] = await t.store.query<{ agent: string; released: string }>(`select agent, progress->>'released' as released from jobs where agent = $1`, [
      `legacy:${other.uid}`,
    ]);
    expect(row).toEqual({ agent: `legacy:${other.uid}`, released: '1' });
  }, 300_000);
  it("gets the profile's extra nmap options and custom scripts in its job format; a job failing the checks is failed, not sent", async () => {
    const a = agent('0b6f3c52-2f7e-4d59-9a7c-4c1e1f7e0a07');
    await a.post('beacon');
    const telnet = perimeter.service('telnet');
    const lua =
      'categories = {"safe"}\nportrule = function(host, port) return port.state == "open" end\naction = function(host, port) return "legacy-marker" end\n';
    const custom = await addNseScript(t.store, { name: 'site-legacy', content: lua });
    await saveProfile(t.store, {
      name: 'legacy-opts',
      tcpPorts: String(telnet.port),
      scripts: 'plum-banner,site-legacy',
      hostTimeout: '30s',
      nmapArgs: '--script-args plum-banner.timeout=2 --max-retries 1',
    });
    const deps: EmbeddedDeps = { store: t.store, config: t.config, log: silentLogger, legacyPollMs: 100 };
    const running = runEmbedded(deps, profileRequest('legacy-opts', { requestedBy: 'test' }));
    const job = await nextJob(a, { NSE_HASHES: { 'site-legacy.nse': 'f'.repeat(64) } });
    const claimedAt = Date.now();
    expect(job.nmap_additional_params).toBe('--host-timeout 30s --script-args plum-banner.timeout=2 --max-retries 1');
    expect(job.nmap_nse).toEqual(['plum-banner.nse', 'site-legacy.nse']);
    expect(job.nse_scripts[1]).toEqual({ name: 'site-legacy.nse', hash: custom.sha256, content_b64: Buffer.from(lua).toString('base64') });
    const result = await scan(job);
    expect(result).toContain('legacy-marker');
    await new Promise((r) => setTimeout(r, Math.max(0, claimedAt + 1200 - Date.now())));
    expect((await a.post('sndjob', { JOB_UID: job.job_uid, RESULT: result })).status).toBe(200);
    expect(await running).toMatchObject({ status: 'succeeded' });

    // A stored job whose options would no longer pass the runner's checks (a hand-edited row) is never handed out.
    const second = runEmbedded(deps, profileRequest('legacy-opts', { requestedBy: 'test', scheduledFor: new Date(Date.now() + 60_000) }));
    let offered: { id: string } | undefined;
    for (const deadline = Date.now() + 60_000; !offered && Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      [offered] = await t.store.query<{ id: string }>(`select id from jobs where progress->>'executor' = 'legacy' and status = 'queued' and agent is null`);
    }
    await t.store.query(`update jobs set nmap_args = '{-oN,/tmp/plum-legacy-out}' where id = $1`, [offered!.id]);
    expect(await a.post('getjob')).toEqual({ status: 200, body: { message: { message: 'ready', job: '' } } });
    const [failed] = await t.store.query<{ status: string; error: string }>('select status, error from jobs where id = $1', [offered!.id]);
    expect(failed).toEqual({ status: 'failed', error: expect.stringMatching(/refused nmap argument "-oN": writes or controls output files/) });
    const summary = await second;
    expect(summary.status).not.toBe('succeeded');
    expect(summary.errors.join(' ')).toMatch(/could not be handed to a legacy agent: refused nmap argument "-oN"/);
  }, 300_000);
});
