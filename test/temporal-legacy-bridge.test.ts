import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAST_TIMING, startDeployment, until, type Deployment } from './helpers/distributed.ts';
import { legacyAgent, nextLegacyJob, scanAsLegacyAgent, type LegacyAgent, type LegacyJob } from './helpers/legacy-agent.ts';
import { jobIdOfUid } from '../store/repos/legacy-agents.ts';
import type { PlumProcess } from './helpers/plum-process.ts';

/*
 * Distributed mode's bridge to the predecessor's agents (workers/legacy-bridge.ts)
 * on a real Temporal dev server, `plum serve` and `plum worker`, with the
 * protocol client of test/helpers/legacy-agent.ts running real nmap on the
 * loopback perimeter. The workflow's nmap activity of a job handed to such an
 * agent completes when its result arrives; Temporal times out a silent
 * agent's attempt and retries it.
 */

const LEGACY_TIMEOUT_SECONDS = 12;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'plum-bridge-'));
let d: Deployment;
let key: string;

interface RunDoc {
  run_id: string;
  workflow_id: string;
  status: string;
  counters: Record<string, number>;
}
interface JobRow {
  id: string;
  run_id: string;
  agent: string | null;
  status: string;
  legacy_attempt: number | null;
  held: boolean;
  ingested: boolean;
}

const agent = (n: number): LegacyAgent =>
  legacyAgent(
    () => d.apiUrl,
    `3f1c0d7e-5b2a-4c8e-9d61-00000000000${n}`,
    () => key,
  );
const agentName = (a: LegacyAgent) => `legacy:${a.uid}`;

async function jobsOf(runId: string): Promise<JobRow[]> {
  return d.store.query<JobRow>(
    `select id, run_id, agent, status, legacy_attempt, legacy_task_token is not null as held, ingested_at is not null as ingested
     from jobs where run_id = $1 order by index`,
    [runId],
  );
}

async function runOf(profile: string): Promise<{ id: string; workflow_id: string }> {
  return until(
    `the run of ${profile}`,
    async () => {
      const [r] = await d.store.query<{ id: string; workflow_id: string }>(
        `select id, workflow_id from runs where profile_name = $1 and status = 'running' order by created_at desc limit 1`,
        [profile],
      );
      return r;
    },
    60_000,
    100,
  );
}

/** Sends a result at least a second after the claim (§8: earlier is a 429). */
async function send(a: LegacyAgent, job: LegacyJob, result: string, claimedAt: number) {
  await new Promise((r) => setTimeout(r, Math.max(0, claimedAt + 1100 - Date.now())));
  return a.post('sndjob', { JOB_UID: job.job_uid, RESULT: result });
}

/** An agent that keeps polling, scanning and sending until stopped, as the predecessor's agents do. */
function pollingAgent(a: LegacyAgent): { stop(): Promise<number> } {
  let stopped = false;
  let done = 0;
  const loop = (async () => {
    while (!stopped) {
      const r = await a.post('getjob');
      if (r.body.message?.job) {
        const claimedAt = Date.now();
        const result = await scanAsLegacyAgent(r.body.message, work);
        const sent = await send(a, r.body.message, result, claimedAt);
        expect(sent.status).toBe(200);
        done++;
      } else {
        await new Promise((res) => setTimeout(res, 300));
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return done;
    },
  };
}

beforeAll(async () => {
  d = await startDeployment({
    agents: ['p1'],
    timing: { ...FAST_TIMING, PLUM_LEGACY_BOT_API: '1', PLUM_LEGACY_JOB_TIMEOUT: String(LEGACY_TIMEOUT_SECONDS), PLUM_LEGACY_BRIDGE_HEARTBEAT: '1' },
  });
  key = (await d.ok(['agent-token', 'create', '--legacy', '--note', 'bridge test'])).trim();
  const ssh = d.perimeter.service('ssh');
  const http = d.perimeter.service('http');
  await d.ok(['target', 'add', ssh.ip, http.ip, '--label', 'pair']);
  await d.ok(['target', 'add', `${d.perimeter.prefix}.1-6`, '--label', 'all']);
  // Two addresses: one job (PLUM_JOB_SIZE 2).
  await d.ok(['profile', 'add', 'pair', '--ports', `${ssh.port},${http.port}`, '--scripts', 'plum-banner', '--targets', 'label:pair', '--every', '7d']);
  // About 10 s of nmap on one address: still in flight when the run is cancelled.
  await d.ok(['profile', 'add', 'slow', '--ports', '1-20', '--targets', 'label:pair', '--every', '7d', '--nmap-args', '--scan-delay 500ms --max-retries 0']);
  // Six addresses: three jobs.
  const ports = d.perimeter.services.map((s) => s.port).join(',');
  await d.ok(['profile', 'add', 'all', '--ports', ports, '--targets', 'label:all', '--every', '7d']);
}, 240_000);

afterAll(async () => {
  await d?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

describe("the bridge to the predecessor's agents on Temporal", () => {
  it("a run is completed by a legacy agent's result; the task token stays in the database; a second submission changes nothing", async () => {
    const a = agent(1);
    expect((await a.post('beacon')).status).toBe(200);
    const running = d.plum(['run', 'pair', '--temporal', '--format', 'json']);
    const job = await nextLegacyJob(a);
    const claimedAt = Date.now();
    const ssh = d.perimeter.service('ssh');
    const http = d.perimeter.service('http');
    expect(job.job.split(',').sort()).toEqual([ssh.ip, http.ip].sort());
    const jobId = jobIdOfUid(job.job_uid)!;
    const [row] = await d.store.query<{ token: Buffer; agent: string; status: string; run_id: string }>(
      'select legacy_task_token as token, agent, status, run_id from jobs where id = $1',
      [jobId],
    );
    expect(row).toMatchObject({ agent: agentName(a), status: 'running' });
    // The token completes the activity for whoever holds it: never in the getjob answer, the API or the server's logs.
    const token = Buffer.from(row!.token);
    expect(token.length).toBeGreaterThan(16);
    const answer = JSON.stringify(job);
    const runRes = await fetch(`${d.apiUrl}/v1/runs/${row!.run_id}`, { headers: { authorization: `Bearer ${d.apiKey}` } });
    const runDoc = await runRes.text();
    expect(runRes.status, runDoc).toBe(200);
    expect(runDoc).toContain(jobId);
    for (const form of [token.toString('base64'), token.toString('hex'), token.toString('base64url')]) {
      expect(answer).not.toContain(form.slice(0, 24));
      expect(runDoc).not.toContain(form.slice(0, 24));
      expect(d.serve.output()).not.toContain(form.slice(0, 24));
    }
    expect(Object.keys(job).sort()).toEqual(['job', 'job_uid', 'message', 'nmap_nse', 'nmap_ports', 'nse_scripts']);

    const result = await scanAsLegacyAgent(job, work);
    expect(await send(a, job, result, claimedAt)).toEqual({ status: 200, body: { message: 'ready' } });
    const r = await running;
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as RunDoc;
    expect(doc).toMatchObject({ status: 'succeeded', counters: { jobs: 1, jobsDone: 1, jobsFailed: 0, ports: 2, appeared: 2 } });
    const obs = await d.store.query<{ ip: string; port: number; banner: string[] }>(
      `select host(ip) as ip, port, fields->'banner' as banner from port_observations where current and ip = any($1::inet[]) order by port`,
      [[ssh.ip, http.ip]],
    );
    expect(obs.map((o) => `${o.ip}:${o.port}`).sort()).toEqual([`${ssh.ip}:${ssh.port}`, `${http.ip}:${http.port}`].sort());
    expect(obs.find((o) => o.port === ssh.port)!.banner.join(' ')).toMatch(/SSH-2\.0-OpenSSH/);
    // The attempt was completed by the result: the token is gone, the activity ran on the bridge's queue.
    expect(await jobsOf(doc.run_id)).toEqual([
      expect.objectContaining({ id: jobId, held: false, ingested: true, status: 'succeeded', agent: agentName(a), legacy_attempt: 1 }),
    ]);
    const history = await d.client.workflow.getHandle(doc.workflow_id).fetchHistory();
    const scheduled = history.events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runNmapJob');
    expect(scheduled.map((e) => e.activityTaskScheduledEventAttributes!.taskQueue!.name)).toEqual(['plum-scan-legacy']);
    expect(Number(scheduled[0]!.activityTaskScheduledEventAttributes!.heartbeatTimeout?.seconds ?? 0)).toBe(0);
    expect(Number(scheduled[0]!.activityTaskScheduledEventAttributes!.startToCloseTimeout!.seconds)).toBe(LEGACY_TIMEOUT_SECONDS);

    // The same result again: an idempotent 200, nothing new stored.
    const events = await d.store.query('select id from observation_events order by id');
    expect(await a.post('sndjob', { JOB_UID: job.job_uid, RESULT: result })).toEqual({ status: 200, body: { message: 'ready' } });
    expect(await d.store.query('select id from observation_events order by id')).toEqual(events);
  }, 240_000);

  it("a silent agent's job times out on Temporal, is retried and taken by another agent; the silent one's late result gets 403", async () => {
    const silent = agent(2);
    const other = agent(3);
    for (const a of [silent, other]) expect((await a.post('beacon')).status).toBe(200);
    const running = d.plum(['run', 'pair', '--temporal', '--format', 'json']);
    const job = await nextLegacyJob(silent);
    const claimedAt = Date.now();
    const jobId = jobIdOfUid(job.job_uid)!;
    // Held for the silent agent: the other one is offered nothing until Temporal's timeout.
    expect((await other.post('getjob')).body).toEqual({ message: { message: 'ready', job: '' } });
    // The silent agent scans, but sends its result only after its attempt has timed out.
    const lateResult = await scanAsLegacyAgent(job, work);
    const retried = await nextLegacyJob(other, {}, Date.now() + 60_000);
    const retriedAt = Date.now();
    expect(Date.now() - claimedAt).toBeGreaterThanOrEqual((LEGACY_TIMEOUT_SECONDS - 1) * 1000);
    expect(retried.job_uid).toBe(job.job_uid);
    const [row] = await d.store.query<{ agent: string; legacy_attempt: number }>('select agent, legacy_attempt from jobs where id = $1', [jobId]);
    expect(row).toEqual({ agent: agentName(other), legacy_attempt: 2 });

    expect(await silent.post('sndjob', { JOB_UID: job.job_uid, RESULT: lateResult })).toEqual({
      status: 403,
      body: { message: 'job assigned to another agent' },
    });
    expect(await send(other, retried, await scanAsLegacyAgent(retried, work), retriedAt)).toEqual({ status: 200, body: { message: 'ready' } });
    const r = await running;
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as RunDoc;
    expect(doc.status).toBe('succeeded');
    const history = await d.client.workflow.getHandle(doc.workflow_id).fetchHistory();
    const started = history.events!.find(
      (e) =>
        e.activityTaskStartedEventAttributes &&
        history.events!.find((s) => Number(s.eventId) === Number(e.activityTaskStartedEventAttributes!.scheduledEventId))?.activityTaskScheduledEventAttributes
          ?.activityType?.name === 'runNmapJob',
    );
    expect(started!.activityTaskStartedEventAttributes!.attempt).toBe(2);
    expect(started!.activityTaskStartedEventAttributes!.lastFailure?.timeoutFailureInfo?.timeoutType).toBe(1); // START_TO_CLOSE
  }, 240_000);

  it("a cancelled run: its job is cancelled and the agent's result gets 409", async () => {
    const a = agent(4);
    expect((await a.post('beacon')).status).toBe(200);
    const running = d.plum(['run', 'slow', '--temporal', '--format', 'json']);
    const job = await nextLegacyJob(a);
    const jobId = jobIdOfUid(job.job_uid)!;
    const run = await runOf('slow');
    expect((await jobsOf(run.id)).map((j) => j.id)).toEqual([jobId]);
    const res = await fetch(`${d.apiUrl}/v1/runs/${run.id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${d.apiKey}` } });
    expect(res.status).toBe(202);
    const r = await running;
    expect(r.stderr).toMatch(/was cancelled/);
    let last: unknown;
    await until(
      'the job to be cancelled and its token forgotten',
      async () => {
        const [row] = await d.store.query<{ status: string; held: boolean }>('select status, legacy_task_token is not null as held from jobs where id = $1', [
          jobId,
        ]);
        last = row;
        return row?.status === 'cancelled' && !row.held;
      },
      30_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(last)}\n${d.serve.output().slice(-3000)}`);
    });
    expect(await a.post('sndjob', { JOB_UID: job.job_uid, RESULT: '[]' })).toEqual({ status: 409, body: { message: 'job is not active' } });
    expect(await jobsOf(run.id)).toEqual([expect.objectContaining({ status: 'cancelled', ingested: false })]);
  }, 240_000);

  it('Plum agents and a legacy agent share one run: each job goes to one of them, and the run completes', async () => {
    let p1: PlumProcess | undefined;
    const legacy = agent(5);
    // The agents of the tests above count until PLUM_LEGACY_JOB_TIMEOUT has passed since their last call.
    await until(
      'the earlier legacy agents to count as gone',
      async () => {
        const [row] = await d.store.query<{ n: number }>(
          `select count(*)::int as n from legacy_agents where uid <> $1 and last_seen_at > now() - make_interval(secs => $2)`,
          [legacy.uid, LEGACY_TIMEOUT_SECONDS + 1],
        );
        return Number(row?.n) === 0;
      },
      60_000,
      500,
    );
    expect((await legacy.post('beacon')).status).toBe(200);
    const poller = pollingAgent(legacy);
    try {
      p1 = d.startAgent('p1');
      await until(
        "the Plum agent's heartbeat",
        async () => {
          const [row] = await d.store.query<{ seen: boolean }>(`select last_heartbeat_at > now() - interval '1 minute' as seen from agents where name = 'p1'`);
          return row?.seen;
        },
        60_000,
      );
      const r = await d.plum(['run', 'all', '--temporal', '--format', 'json']);
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout) as RunDoc;
      expect(doc).toMatchObject({ status: 'succeeded', counters: { jobs: 3, jobsDone: 3, jobsFailed: 0, ports: d.perimeter.services.length } });
      const jobs = await jobsOf(doc.run_id);
      expect(jobs.every((j) => j.ingested && j.status === 'succeeded' && !j.held)).toBe(true);
      const by = new Set(jobs.map((j) => j.agent));
      expect(by).toEqual(new Set(['p1', agentName(legacy)]));
      // The legacy agent's jobs were the ones on the legacy queue; the others on the scan queue.
      const queues: string[] = [];
      for await (const w of d.client.workflow.list({ query: `WorkflowId = "${doc.workflow_id}"` })) {
        const h = await d.client.workflow.getHandle(doc.workflow_id, w.runId).fetchHistory();
        for (const e of h.events!) {
          const s = e.activityTaskScheduledEventAttributes;
          if (s?.activityType?.name === 'runNmapJob') queues.push(s.taskQueue!.name!);
        }
      }
      expect(queues.filter((q) => q === 'plum-scan-legacy')).toHaveLength(jobs.filter((j) => j.agent === agentName(legacy)).length);
      expect(queues.filter((q) => q === 'plum-scan')).toHaveLength(jobs.filter((j) => j.agent === 'p1').length);
    } finally {
      await poller.stop();
      await p1?.stop(5000);
    }
  }, 300_000);
});
