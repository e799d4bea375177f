import { describe, expect, it } from 'vitest';
import { agentOfWorkerIdentity, agentWorkerIdentity, judgeJobClaim, type PendingActivityView } from './job-claims.ts';

const JOB = 'job_01jdclaim0000000000000000';
const nmap = (over: Partial<PendingActivityView> = {}): PendingActivityView => ({
  activityId: `nmap:${JOB}`,
  activityType: 'runNmapJob',
  started: true,
  attempt: 1,
  workerIdentity: 'plum-agent:a1@scanner-1',
  ...over,
});
const claim = { jobId: JOB, agent: 'a1', attempt: 1 };

describe('agent worker identity', () => {
  it('carries the agent name and the host, and reads back only from a plum agent identity', () => {
    expect(agentWorkerIdentity('a1', 'scanner-1')).toBe('plum-agent:a1@scanner-1');
    expect(agentOfWorkerIdentity(agentWorkerIdentity('edge.eu-1', 'h@st'))).toBe('edge.eu-1');
    for (const other of ['1234@scanner-1', 'plum-agent:@h', 'plum-agent:a1', 'agent:a1@h', '']) expect(agentOfWorkerIdentity(other)).toBeUndefined();
  });
});

describe('judgeJobClaim', () => {
  const cases: { name: string; pending: PendingActivityView[]; claim?: Partial<typeof claim>; code?: string; message?: RegExp }[] = [
    { name: 'the job runs on this agent at this attempt', pending: [nmap()] },
    { name: 'a later attempt on this agent after a lost one', pending: [nmap({ attempt: 2 })], claim: { attempt: 2 } },
    { name: 'a scouting job (masscan) runs on this agent at this attempt', pending: [nmap({ activityId: `scout:${JOB}`, activityType: 'runScoutJob' })] },
    {
      name: 'another agent runs a scouting job',
      pending: [nmap({ activityId: `scout:${JOB}`, activityType: 'runScoutJob', workerIdentity: 'plum-agent:a2@h' })],
      code: 'forbidden',
    },
    {
      name: 'another agent runs it',
      pending: [nmap({ workerIdentity: 'plum-agent:a2@scanner-2' })],
      code: 'forbidden',
      message: /runs on agent a2 according to Temporal, not on agent a1$/,
    },
    {
      name: 'a later attempt from another agent does not supersede',
      pending: [nmap({ workerIdentity: 'plum-agent:a2@h' })],
      claim: { attempt: 2 },
      code: 'forbidden',
    },
    {
      name: 'a worker that is not an agent runs it',
      pending: [nmap({ workerIdentity: '4242@server' })],
      code: 'forbidden',
      message: /runs on worker "4242@server"/,
    },
    { name: 'another attempt than Temporal runs', pending: [nmap({ attempt: 2 })], code: 'conflict', message: /runs attempt 2 on Temporal, not attempt 1$/ },
    { name: 'waiting for an agent', pending: [nmap({ started: false, workerIdentity: '' })], code: 'conflict', message: /waiting for an agent/ },
    {
      name: 'not pending at all (done, or another job)',
      pending: [nmap({ activityId: 'nmap:job_01jdother0000000000000000' })],
      code: 'conflict',
      message: /no running nmap activity/,
    },
    { name: 'a workflow from before job-derived ids: this agent runs an nmap activity at this attempt', pending: [nmap({ activityId: '7' })] },
    {
      name: 'a workflow from before job-derived ids: another agent runs it',
      pending: [nmap({ activityId: '7', workerIdentity: 'plum-agent:a2@h' })],
      code: 'conflict',
    },
    { name: 'a workflow from before job-derived ids: not started', pending: [nmap({ activityId: '7', started: false })], code: 'conflict' },
    {
      name: 'a workflow from before job-derived ids: only nmap activities count',
      pending: [nmap({ activityId: '7', activityType: 'ingestJob' })],
      code: 'conflict',
    },
  ];
  it.each(cases)('$name', ({ pending, claim: over, code, message }) => {
    const refusal = judgeJobClaim(pending, { ...claim, ...over });
    if (!code) {
      expect(refusal).toBeUndefined();
      return;
    }
    expect(refusal?.code).toBe(code);
    if (message) expect(refusal?.message).toMatch(message);
    expect(refusal?.hint).toBeTruthy();
  });
});
