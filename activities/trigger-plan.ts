import { PlumError } from '../core/errors.ts';
import { planFindingJobs } from '../core/plan-findings.ts';
import type { PlannedJob, PlanTarget } from '../core/plan.ts';
import type { StoreSession } from '../store/index.ts';
import { getProfile, type StoredProfile } from '../store/repos/profiles.ts';
import { firingsOfWorkflow } from '../store/repos/trigger-firings.ts';

/** Where a triggered run comes from: the finding that fired first, and how many were claimed with it. */
export interface RunOrigin {
  query: string;
  firingId: string;
  observationId: string;
  ip: string;
  protocol: string;
  port: number;
  hsh256: string;
  /** Firings the run scans (this one included). */
  firings: number;
}

/**
 * planRun's part for a run of kind `trigger`: the profile, and jobs on exactly the (address, port) of the
 * firings claimed under the run's workflow id. The scope guard then checks every address (planRun).
 */
export async function planTriggerRun(
  store: StoreSession,
  req: { profile: string; workflowId: string },
  excludes: PlanTarget[],
  maxPerJob?: number,
): Promise<{
  profile: StoredProfile;
  planned: PlannedJob[];
  requested: string[];
  origin: RunOrigin;
  reason: string;
}> {
  const profile = await getProfile(store, req.profile);
  if (!profile.trigger) {
    throw new PlumError('invalid_input', `profile ${profile.name} has no trigger query`, { hint: 'run it with `plum run` instead' });
  }
  const firings = (await firingsOfWorkflow(store, req.workflowId)).filter((f) => f.status === 'claimed');
  const first = firings[0];
  if (!first) {
    throw new PlumError('invalid_input', `no claimed firings for ${req.workflowId}`, {
      hint: 'triggered runs start from the firings of a trigger profile',
      details: { reason: 'no_targets' },
    });
  }
  const planned = planFindingJobs(profile, firings, excludes, maxPerJob ? { maxPerJob } : {});
  const origin: RunOrigin = {
    query: first.query,
    firingId: first.id,
    observationId: first.observation_id,
    ip: first.ip,
    protocol: first.protocol,
    port: first.port,
    hsh256: first.hsh256,
    firings: firings.length,
  };
  const more = firings.length > 1 ? ` and ${firings.length - 1} more` : '';
  const reason = `trigger ${first.query}: ${first.ip} ${first.protocol}/${first.port} (${first.observation_id})${more}`;
  return { profile, planned, requested: [...new Set(firings.map((f) => f.ip))], origin, reason };
}
