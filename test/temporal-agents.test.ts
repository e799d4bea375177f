import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { NMAP_ACTIVITY_ID_PATCH } from '../workflows/options.ts';
import { startGrpcFront } from './helpers/grpc-front.ts';
import { startPlum } from './helpers/plum-process.ts';
import { makeTestPki, TLS_SERVER_NAME } from './helpers/tls-proxy.ts';
import type { PlumProcess } from './helpers/plum-process.ts';
import { nmapChildren, startDeployment, until, type Deployment } from './helpers/distributed.ts';

/*
 * Agents against a real Temporal dev server (test/helpers/distributed.ts):
 * which agent may claim a job (the one Temporal dispatched it to), and when an
 * agent takes jobs (--scan-hours), and the API key every process sends.
 */

let d: Deployment;
const agents = new Map<string, PlumProcess>();

interface JobRow {
  id: string;
  run_id: string;
  workflow_id: string;
  agent: string | null;
  status: string;
  attempts: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The job's nmap activity as Temporal shows it among the workflow's pending activities (undefined once done). */
async function nmapActivity(job: JobRow) {
  const res = await d.client.workflowService.describeWorkflowExecution({ namespace: 'default', execution: { workflowId: job.workflow_id } });
  return res.pendingActivities?.find((a) => a.activityId === `nmap:${job.id}`);
}

const SCHEDULED = 1; // PENDING_ACTIVITY_STATE_SCHEDULED

async function claim(agent: string, jobId: string, attempt: number): Promise<{ status: number; json: any }> {
  const res = await fetch(`${d.apiUrl}/v1/agent/jobs/${jobId}/claim?attempt=${attempt}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await d.token(agent)}` },
  });
  return { status: res.status, json: await res.json() };
}

/** The job of the profile's run in progress (one job per run here). */
async function runningJob(profile: string, where = 'true'): Promise<JobRow> {
  return until(
    `the job of ${profile}`,
    async () => {
      const [j] = await d.store.query<JobRow>(
        `select j.id, j.run_id, r.workflow_id, j.agent, j.status, j.attempts from jobs j join runs r on r.id = j.run_id
        where r.profile_name = $1 and r.status = 'running' and ${where}`,
        [profile],
      );
      return j;
    },
    60_000,
    100,
  );
}

beforeAll(async () => {
  d = await startDeployment({ agents: ['a1', 'a2'] });
  const ssh = d.perimeter.service('ssh');
  await d.ok(['target', 'add', ssh.ip, '--label', 'slow']);
  // About 10 s of nmap on one address: a job that is really in flight when the test interferes.
  await d.ok([
    'profile',
    'add',
    'slow',
    '--ports',
    ssh.port <= 22 ? '1-22' : `1-20,${ssh.port}`,
    '--targets',
    'label:slow',
    '--every',
    '7d',
    '--nmap-args',
    '--scan-delay 500ms --max-retries 0',
  ]);
  // One address, one port: a job of a second or so.
  await d.ok(['profile', 'add', 'quick', '--ports', String(ssh.port), '--targets', 'label:slow', '--every', '7d']);
  for (const name of ['a1', 'a2']) agents.set(name, d.startAgent(name));
}, 240_000);

afterAll(async () => {
  await d?.close();
});

describe('a job claim is bound to the agent Temporal dispatched the job to', () => {
  it('nobody claims a job still waiting on Temporal for an agent; the agent Temporal hands it to does', async () => {
    // No agent polls this queue yet: the job's nmap activity stays scheduled.
    const unpolled = { PLUM_TEMPORAL_SCAN_QUEUE: 'plum-scan-unpolled' };
    const result = d.plum(['run', 'slow', '--temporal', '--format', 'json'], unpolled);
    const job = await runningJob('slow');
    const pending = await until("the job's nmap activity on Temporal", () => nmapActivity(job));
    expect(pending.activityType?.name).toBe('runNmapJob');
    for (const attempt of [1, 2]) {
      const r = await claim('a2', job.id, attempt);
      expect(r.status, JSON.stringify(r.json)).toBe(409);
      expect(r.json.error.message).toBe(`job ${job.id} is waiting for an agent on Temporal, not running`);
    }
    const [row] = await d.store.query<{ agent: string | null; status: string }>('select agent, status from jobs where id = $1', [job.id]);
    expect(row).toEqual({ agent: null, status: 'queued' });

    const taker = d.startAgent('a1', { args: ['--task-queue', unpolled.PLUM_TEMPORAL_SCAN_QUEUE, '--urgent-slots', '0'] });
    try {
      const r = await result;
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', counters: { jobs: 1, jobsDone: 1, ports: 1 } });
      const [done] = await d.store.query<{ agent: string; status: string; attempts: number }>('select agent, status, attempts from jobs where id = $1', [
        job.id,
      ]);
      expect(done).toEqual({ agent: 'a1', status: 'succeeded', attempts: 1 });
    } finally {
      await taker.stop(5000);
    }
  }, 180_000);

  it("another agent's token can neither claim nor supersede a job running on an agent, nor upload for it; the run completes", async () => {
    const result = d.plum(['run', 'slow', '--temporal', '--format', 'json']);
    const mid = await until('an agent running nmap', () => [...agents].find(([, a]) => nmapChildren(a).length > 0), 60_000, 100);
    const [runner] = mid;
    const other = runner === 'a1' ? 'a2' : 'a1';
    const job = await runningJob('slow', `j.agent = '${runner}'`);
    const refusal = `job ${job.id} runs on agent ${runner} according to Temporal, not on agent ${other}`;

    // The same attempt, and a later one (which used to supersede the claim): both refused.
    for (const attempt of [1, 2]) {
      const r = await claim(other, job.id, attempt);
      expect(r.status, JSON.stringify(r.json)).toBe(403);
      expect(r.json.error).toMatchObject({ code: 'forbidden', message: refusal });
    }
    // The runner itself cannot claim an attempt Temporal is not running.
    const wrongAttempt = await claim(runner, job.id, 3);
    expect(wrongAttempt.status).toBe(409);
    expect(wrongAttempt.json.error.message).toBe(`job ${job.id} runs attempt 1 on Temporal, not attempt 3`);
    // So a forged result is refused too: the job is still the runner's.
    const forged = await fetch(`${d.apiUrl}/v1/agent/jobs/${job.id}/result`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${await d.token(other)}`, 'content-type': 'application/xml' },
      body: '<nmaprun></nmaprun>',
    });
    expect(forged.status).toBe(403);

    const r = await result;
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', counters: { jobs: 1, jobsDone: 1, jobsFailed: 0, ports: 1 } });
    const [done] = await d.store.query<{ agent: string; attempts: number }>('select agent, attempts from jobs where id = $1', [job.id]);
    expect(done).toEqual({ agent: runner, attempts: 1 });
    const [raw] = await d.store.query<{ n: number }>('select count(*)::int as n from raw_results where job_id = $1', [job.id]);
    expect(raw!.n).toBe(1);
    // The real history records the patch marker as test/temporal/history.ts builds it, and the job-derived activity id.
    const events = (await d.client.workflow.getHandle(job.workflow_id).fetchHistory()).events ?? [];
    const marker = events.find((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')!.markerRecordedEventAttributes!;
    expect(JSON.parse(Buffer.from(marker.details!['patch-data']!.payloads![0]!.data!).toString())).toEqual({ id: NMAP_ACTIVITY_ID_PATCH, deprecated: false });
    expect(
      events
        .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runNmapJob')
        .map((e) => e.activityTaskScheduledEventAttributes!.activityId),
    ).toEqual([`nmap:${job.id}`]);
    // Each refusal is logged by the server, once per claim.
    expect(d.serve.output().match(/refused a job claim Temporal did not dispatch to this agent/g)).toHaveLength(5);
  }, 180_000);
});

describe('--scan-hours on live agents', () => {
  /** START-END of `span` hours from `from` (UTC hours, wrapping). */
  const hours = (from: number, span: number) => `${from % 24}-${(from + span) % 24 || 24}`;

  it('an agent whose window excludes now leaves the job scheduled; an agent whose window includes now takes it', async () => {
    const queue = 'plum-scan-hours';
    const h = new Date().getUTCHours();
    // Both stay true for at least an hour, whatever the minute.
    const closed = hours(h + 2, 2);
    const open = hours(h, 2);
    const night = d.startAgent('a1', { args: ['--task-queue', queue, '--urgent-slots', '0', '--scan-hours', closed], env: { PLUM_LOG_LEVEL: 'info' } });
    await night.waitFor(/outside the scan hours: waiting/);
    const result = d.plum(['run', 'quick', '--temporal', '--format', 'json'], { PLUM_TEMPORAL_SCAN_QUEUE: queue });
    const job = await runningJob('quick');
    await until("the job's nmap activity on Temporal", () => nmapActivity(job));
    await sleep(5000);
    expect((await nmapActivity(job))?.state).toBe(SCHEDULED);
    expect(nmapChildren(night)).toEqual([]);

    const day = d.startAgent('a2', { args: ['--task-queue', queue, '--urgent-slots', '0', '--scan-hours', open] });
    try {
      const r = await result;
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', counters: { jobs: 1, jobsDone: 1, ports: 1 } });
      const [done] = await d.store.query<{ agent: string }>('select agent from jobs where id = $1', [job.id]);
      expect(done!.agent).toBe('a2');
    } finally {
      await Promise.all([night.stop(5000), day.stop(5000)]);
    }
  }, 180_000);

  /** An agent in this process whose clock reads `fakeNow` at start (then runs at real speed). */
  async function agentWithClock(queue: string, window: string, fakeNow: Date) {
    const [{ runAgent }, { parseScanHours }, { loadConfig }, { createLogger }] = await Promise.all([
      import('../workers/agent.ts'),
      import('../workers/scan-hours.ts'),
      import('../core/config.ts'),
      import('../core/log.ts'),
    ]);
    const lines: string[] = [];
    const log = createLogger('info', 'agent', { write: (m: string) => void lines.push(m) });
    const offset = fakeNow.getTime() - Date.now();
    const ac = new AbortController();
    const config = loadConfig({ ...d.agentEnv, PLUM_TEMPORAL_SCAN_QUEUE: queue });
    const running = runAgent({
      config,
      temporalAddress: d.temporal.address,
      namespace: 'default',
      taskQueue: queue,
      concurrency: 1,
      urgentSlots: 0,
      scanHours: parseScanHours(window),
      serverUrl: d.apiUrl,
      token: await d.token('a1'),
      nmapPath: config.PLUM_NMAP,
      log,
      signal: ac.signal,
      now: () => new Date(Date.now() + offset),
    });
    return {
      lines,
      stop: async () => {
        ac.abort();
        await running;
      },
    };
  }

  const at = (hh: number, mm: number, ss: number) => {
    const t = new Date();
    t.setUTCHours(hh, mm, ss, 0);
    return t;
  };
  const eventMs = (e: { eventTime?: { seconds?: unknown; nanos?: number | null } | null }) =>
    Number(e.eventTime!.seconds) * 1000 + Math.floor((e.eventTime!.nanos ?? 0) / 1e6);

  it('a window that opens later: the agent takes the waiting job when it opens', async () => {
    const queue = 'plum-scan-later';
    const result = d.plum(['run', 'quick', '--temporal', '--format', 'json'], { PLUM_TEMPORAL_SCAN_QUEUE: queue });
    const job = await runningJob('quick');
    await until("the job's nmap activity on Temporal", () => nmapActivity(job));
    // 02:59:55 on the agent's clock, window 03-04 UTC: it opens 5 s from now.
    const startedAt = Date.now();
    const agent = await agentWithClock(queue, '3-4', at(2, 59, 55));
    try {
      await sleep(3000);
      expect((await nmapActivity(job))?.state).toBe(SCHEDULED);
      const r = await result;
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', counters: { jobs: 1, jobsDone: 1, ports: 1 } });
      const events = (await d.client.workflow.getHandle(job.workflow_id).fetchHistory()).events ?? [];
      const started = events.find(
        (e) =>
          e.activityTaskStartedEventAttributes &&
          events.find((s) => String(s.eventId) === String(e.activityTaskStartedEventAttributes!.scheduledEventId))?.activityTaskScheduledEventAttributes
            ?.activityId === `nmap:${job.id}`,
      )!;
      expect(eventMs(started) - startedAt).toBeGreaterThanOrEqual(4500);
      expect(agent.lines.join('')).toMatch(/outside the scan hours: waiting/);
    } finally {
      await agent.stop();
    }
  }, 180_000);

  it('a window that closes while a job runs: the job is finished, the next job waits for the next window', async () => {
    const queue = 'plum-scan-closing';
    const result = d.plum(['run', 'slow', '--temporal', '--format', 'json'], { PLUM_TEMPORAL_SCAN_QUEUE: queue });
    const job = await runningJob('slow');
    await until("the job's nmap activity on Temporal", () => nmapActivity(job));
    // 03:59:56 on the agent's clock, window 03-04 UTC: open now, it closes 4 s from now, while the 10-s job runs.
    const agent = await agentWithClock(queue, '3-4', at(3, 59, 56));
    try {
      const r = await result;
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', counters: { jobs: 1, jobsDone: 1, jobsFailed: 0, ports: 1 } });
      const [done] = await d.store.query<{ agent: string; attempts: number }>('select agent, attempts from jobs where id = $1', [job.id]);
      expect(done).toEqual({ agent: 'a1', attempts: 1 });
      await until('the agent to wait for its next window', () => /outside the scan hours: waiting/.test(agent.lines.join('')), 20_000);

      const next = d.plum(['run', 'quick', '--temporal', '--format', 'json'], { PLUM_TEMPORAL_SCAN_QUEUE: queue });
      const nextJob = await runningJob('quick');
      await until("the next job's nmap activity on Temporal", () => nmapActivity(nextJob));
      await sleep(3000);
      expect((await nmapActivity(nextJob))?.state).toBe(SCHEDULED);
      await d.client.workflow.getHandle(nextJob.workflow_id).cancel();
      expect((await next).stderr).toMatch(/was cancelled/);
    } finally {
      await agent.stop();
    }
  }, 180_000);
});

describe('PLUM_TEMPORAL_API_KEY', () => {
  const KEY = 'plum-test-key-9f2c';

  it('a client, a server worker and an agent send `authorization: Bearer KEY` on every call, over TLS', async () => {
    const pki = await makeTestPki(path.join(d.tokenDir, 'pki-key'));
    const front = await startGrpcFront(pki, d.temporal.address);
    const viaFront = {
      PLUM_TEMPORAL_ADDRESS: front.address,
      PLUM_TEMPORAL_API_KEY: KEY,
      PLUM_TEMPORAL_TLS_CA: pki.caPem,
      PLUM_TEMPORAL_TLS_SERVER_NAME: TLS_SERVER_NAME,
      // Queues of their own: only the processes under test pick up this run.
      PLUM_TEMPORAL_TASK_QUEUE: 'plum-server-key',
      PLUM_TEMPORAL_SCAN_QUEUE: 'plum-scan-key',
    };
    const worker = startPlum('worker with key', ['worker'], { ...d.env, ...viaFront });
    const agent = d.startAgent('a1', { args: ['--task-queue', viaFront.PLUM_TEMPORAL_SCAN_QUEUE, '--urgent-slots', '0'], env: viaFront });
    try {
      const check = await d.plum(['agent', '--check', '--server', d.apiUrl, '--token-file', d.tokenFile('a1')], { ...d.agentEnv, ...viaFront });
      expect(check.code, check.stderr).toBe(0);
      const r = await d.plum(['run', 'quick', '--temporal', '--format', 'json'], viaFront);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ status: 'succeeded', counters: { jobs: 1, jobsDone: 1, ports: 1 } });
    } finally {
      await Promise.all([worker.stop(5000), agent.stop(5000)]);
      await front.close();
    }
    const methods = new Set(front.calls.map((c) => c.path.slice(c.path.lastIndexOf('/') + 1)));
    // The client (start, result), the agent check, the server worker (workflow tasks) and the agent (activity tasks).
    for (const m of [
      'StartWorkflowExecution',
      'GetWorkflowExecutionHistory',
      'DescribeNamespace',
      'PollWorkflowTaskQueue',
      'RespondWorkflowTaskCompleted',
      'PollActivityTaskQueue',
      'RespondActivityTaskCompleted',
    ])
      expect(methods, m).toContain(m);
    expect(front.calls.filter((c) => c.authorization !== `Bearer ${KEY}`)).toEqual([]);
  }, 180_000);

  it('a frontend that refuses the key: one line saying to check PLUM_TEMPORAL_API_KEY, from plum agent --check and plum worker', async () => {
    const pki = await makeTestPki(path.join(d.tokenDir, 'pki-refuse'));
    const front = await startGrpcFront(pki, d.temporal.address, { requireKey: KEY });
    const wrong = {
      PLUM_TEMPORAL_ADDRESS: front.address,
      PLUM_TEMPORAL_API_KEY: 'not-the-key',
      PLUM_TEMPORAL_TLS_CA: pki.caPem,
      PLUM_TEMPORAL_TLS_SERVER_NAME: TLS_SERVER_NAME,
    };
    try {
      const check = await d.plum(['agent', '--check', '--server', d.apiUrl, '--token-file', d.tokenFile('a1')], { ...d.agentEnv, ...wrong });
      expect(check.code).toBe(1);
      expect(check.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(
          new RegExp(`^plum: Temporal at ${front.address} refused the API key \\(UNAUTHENTICATED: invalid API key\\): check PLUM_TEMPORAL_API_KEY`),
        ),
      ]);
      const worker = await d.plum(['worker'], wrong);
      expect(worker.code).not.toBe(0);
      const lines = worker.stderr
        .trim()
        .split('\n')
        .filter((l) => !/^\((node:\d+|Use `node)/.test(l));
      expect(lines, worker.stderr).toEqual([
        expect.stringMatching(/^plum: worker on /),
        expect.stringMatching(
          new RegExp(`^plum: Temporal at ${front.address} refused the API key \\(UNAUTHENTICATED: invalid API key\\) \\(check PLUM_TEMPORAL_API_KEY`),
        ),
      ]);
      // With the right key the same front lets the check through.
      const right = await d.plum(['agent', '--check', '--server', d.apiUrl, '--token-file', d.tokenFile('a1')], {
        ...d.agentEnv,
        ...wrong,
        PLUM_TEMPORAL_API_KEY: KEY,
      });
      expect(right.code, right.stderr).toBe(0);
    } finally {
      await front.close();
    }
  }, 120_000);
});
