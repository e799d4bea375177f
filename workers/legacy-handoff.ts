import { setTimeout as sleep } from 'node:timers/promises';
import { legacyJobParams } from '../core/bot-api/job-options.ts';
import { PlumError } from '../core/errors.ts';
import { installedScriptDb } from '../core/nmap/script-db.ts';
import type { Store } from '../store/index.ts';
import { handedOffJobState } from '../store/repos/jobs.ts';
import { legacyAgentsActive, offerJobToLegacyAgents } from '../store/repos/legacy-agents.ts';
import type { JobSpec, NmapJobResult } from '../workflows/logic/types.ts';

/*
 * The embedded runner's bridge to the predecessor's agents: when the switch is
 * on and one of them was seen within the job timeout, a planned job is offered
 * to them instead of running nmap here, and the run waits for its result
 * (/bot_api/sndjob ingests it). The run stays the only scheduler: the job,
 * its scope and its place in the run are the plan's; a job whose agent stays
 * silent is offered again by the next getjob (store/repos/legacy-agents.ts).
 */

export interface HandoffOptions {
  store: Store;
  /** Seconds (PLUM_LEGACY_JOB_TIMEOUT): how recently an agent must have been seen. */
  timeoutSeconds: number;
  signal: AbortSignal;
  /** How often the job's row is read while waiting (default 1000 ms). */
  pollMs?: number;
  onWaiting?: (spec: JobSpec) => void;
}

/** Whether jobs go to legacy agents now (any was seen within the timeout). */
export const legacyAgentsReady = (o: Pick<HandoffOptions, 'store' | 'timeoutSeconds'>) => legacyAgentsActive(o.store, o.timeoutSeconds);

/** Offers the job and waits until a legacy agent's result for it is stored. */
export async function runJobOnLegacyAgent(spec: JobSpec, o: HandoffOptions): Promise<NmapJobResult> {
  const started = Date.now();
  // The checks Plum's runner makes before starting nmap: the agent runs whatever it is given.
  legacyJobParams({ ...spec, scripts: spec.scripts, allowScripts: spec.allowScripts ?? [], customScripts: spec.customScripts ?? [] }, () =>
    installedScriptDb(),
  );
  await offerJobToLegacyAgents(o.store, spec.jobId);
  o.onWaiting?.(spec);
  for (;;) {
    const job = await handedOffJobState(o.store, spec.jobId);
    if (!job) throw new PlumError('not_found', `job ${spec.jobId} no longer exists`);
    if (job.ingested_at) {
      return {
        runId: spec.runId,
        jobId: spec.jobId,
        sha256: job.result_sha256 ?? '',
        size: 0,
        exitCode: 0,
        interrupted: false,
        durationMs: Date.now() - started,
        delivery: 'uploaded',
      };
    }
    if (job.status === 'failed') {
      throw new PlumError('unsafe_argument', `job ${spec.index} could not be handed to a legacy agent: ${job.error ?? 'refused'}`, {
        hint: 'fix the profile and start a new run',
      });
    }
    if (job.status === 'cancelled') throw new PlumError('cancelled', `job ${spec.index} was cancelled`, { hint: 'start a new run to scan again' });
    try {
      await sleep(o.pollMs ?? 1000, undefined, { signal: o.signal });
    } catch {
      throw new PlumError('cancelled', `job ${spec.index} was cancelled while a legacy agent had it`, { hint: 'start a new run to scan again' });
    }
  }
}
