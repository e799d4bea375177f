import os from 'node:os';
import type { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { PlumError } from '../core/errors.ts';
import { nmapActivityId, scoutActivityId } from '../workflows/options.ts';

/*
 * Distributed mode: an agent may claim a job (and so upload its result) only
 * when Temporal dispatched that job to it. The server asks Temporal for the
 * job's workflow and checks that the job's nmap activity (its activity id
 * names the job, workflows/temporal-run.ts) is running now, at the claimed
 * attempt, on a worker whose identity names the agent of the claiming token.
 * A valid agent token alone no longer lets one agent take another's job.
 *
 * Who may poll the scan queue (and so be dispatched jobs) is Temporal's access
 * control (mTLS, API keys); this check binds the Plum token to that worker.
 */

const IDENTITY_PREFIX = 'plum-agent:';

/** The worker identity of an agent's Temporal workers: the agent name of its token, then the host. */
export function agentWorkerIdentity(agent: string, host = os.hostname()): string {
  return `${IDENTITY_PREFIX}${agent}@${host}`;
}

/** The agent an identity names (agent names hold no `@`), or undefined for another kind of worker. */
export function agentOfWorkerIdentity(identity: string): string | undefined {
  if (!identity.startsWith(IDENTITY_PREFIX)) return undefined;
  const rest = identity.slice(IDENTITY_PREFIX.length);
  const at = rest.indexOf('@');
  return at > 0 ? rest.slice(0, at) : undefined;
}

export interface JobClaimRequest {
  jobId: string;
  /** Agent name of the claiming token. */
  agent: string;
  /** The Temporal attempt the agent says it runs. */
  attempt: number;
}

/** What the check needs of a pending activity (DescribeWorkflowExecution → pendingActivities). */
export interface PendingActivityView {
  activityId: string;
  activityType: string;
  started: boolean;
  attempt: number;
  workerIdentity: string;
}

const NMAP_ACTIVITY_TYPE = 'runNmapJob';

/**
 * The decision: undefined when the claim matches what Temporal runs, else the
 * refusal (403 another worker runs it, 409 not running now or another attempt).
 */
export function judgeJobClaim(pending: PendingActivityView[], claim: JobClaimRequest): PlumError | undefined {
  const { jobId, agent, attempt } = claim;
  // A job's scan activity: nmap, or masscan for a two-stage profile's scouting job.
  const activity = pending.find((a) => a.activityId === nmapActivityId(jobId) || a.activityId === scoutActivityId(jobId));
  if (!activity) {
    // Workflows started before job-derived activity ids: only a running nmap activity of this agent at this attempt.
    const legacy = pending.some(
      (a) =>
        a.activityType === NMAP_ACTIVITY_TYPE &&
        /^\d+$/.test(a.activityId) &&
        a.started &&
        a.attempt === attempt &&
        agentOfWorkerIdentity(a.workerIdentity) === agent,
    );
    if (legacy) return undefined;
    return new PlumError('conflict', `job ${jobId} is not being scanned on Temporal now (its workflow has no running nmap activity for it)`, {
      hint: 'an agent claims only the job Temporal hands it; drop this job',
    });
  }
  if (!activity.started) {
    return new PlumError('conflict', `job ${jobId} is waiting for an agent on Temporal, not running`, {
      hint: 'an agent claims only the job Temporal hands it; drop this job',
    });
  }
  const runner = agentOfWorkerIdentity(activity.workerIdentity);
  if (runner !== agent) {
    return new PlumError(
      'forbidden',
      `job ${jobId} runs on ${runner ? `agent ${runner}` : `worker "${activity.workerIdentity}"`} according to Temporal, not on agent ${agent}`,
      {
        hint: 'only the agent Temporal dispatched the job to may claim it; check that each agent runs with its own token',
      },
    );
  }
  if (activity.attempt !== attempt) {
    return new PlumError('conflict', `job ${jobId} runs attempt ${activity.attempt} on Temporal, not attempt ${attempt}`, {
      hint: 'a superseded attempt cannot claim the job; drop this one',
    });
  }
  return undefined;
}

const STARTED = 2; // temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
const GRPC_NOT_FOUND = 5;

function pendingView(a: temporal.api.workflow.v1.IPendingActivityInfo): PendingActivityView {
  return {
    activityId: a.activityId ?? '',
    activityType: a.activityType?.name ?? '',
    started: Number(a.state) === STARTED,
    attempt: a.attempt ?? 0,
    workerIdentity: a.lastWorkerIdentity ?? '',
  };
}

/** Asks Temporal about the job's workflow and throws the refusal when the claim does not match. */
export async function verifyJobClaimOnTemporal(client: Client, namespace: string, claim: JobClaimRequest & { workflowId: string | null }): Promise<void> {
  if (!claim.workflowId) {
    throw new PlumError('conflict', `job ${claim.jobId} belongs to a run without a Temporal workflow`, {
      hint: 'agents only run jobs of runs on Temporal; drop this job',
    });
  }
  let res: temporal.api.workflowservice.v1.IDescribeWorkflowExecutionResponse;
  try {
    res = await client.workflowService.describeWorkflowExecution({ namespace, execution: { workflowId: claim.workflowId } });
  } catch (e) {
    if ((e as { code?: number }).code === GRPC_NOT_FOUND) {
      throw new PlumError('conflict', `job ${claim.jobId}: its workflow ${claim.workflowId} is not on Temporal`, { hint: 'drop this job' });
    }
    throw new PlumError('unavailable', `cannot check the claim of job ${claim.jobId} with Temporal: ${((e as Error).message ?? String(e)).split('\n')[0]}`, {
      hint: 'the claim is retried; check that plum serve reaches Temporal',
    });
  }
  const refusal = judgeJobClaim((res.pendingActivities ?? []).map(pendingView), claim);
  if (refusal) throw refusal;
}
