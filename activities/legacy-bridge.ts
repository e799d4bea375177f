import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure, CompleteAsyncError } from '@temporalio/common';
import { routeJob } from '../core/bot-api/bridge-route.ts';
import { legacyJobParams } from '../core/bot-api/job-options.ts';
import type { Logger } from '../core/log.ts';
import { installedScriptDb } from '../core/nmap/script-db.ts';
import type { Store } from '../store/index.ts';
import { holdJobForLegacy, routeJobForBridge } from '../store/repos/legacy-bridge.ts';
import type { JobSpec, LegacyRoute, LegacyRouteActivities, NmapJobResult } from '../workflows/logic/types.ts';
import { toActivityFailure } from './index.ts';

/*
 * The activities of distributed mode's bridge to the predecessor's agents.
 * routeNmapJob runs on the server worker (the workflow asks it where a TCP job
 * goes); the bridge's runNmapJob runs in `plum serve` on the legacy queue: it
 * stores the attempt's task token on the job and returns without completing
 * (CompleteAsyncError). /bot_api/sndjob completes the attempt with the agent's
 * result; Temporal keeps the timeout (a silent agent) and the retries.
 */

/** Plum agents heartbeat every minute: one seen within three is polling the scan queue. */
const PLUM_AGENT_SEEN_SECONDS = 180;

export function createLegacyRouteActivities(deps: { store: Store; timeoutSeconds: number }): LegacyRouteActivities {
  return {
    async routeNmapJob(input): Promise<LegacyRoute> {
      const legacy = await routeJobForBridge(
        deps.store,
        input.jobId,
        { legacySeconds: deps.timeoutSeconds, plumSeconds: PLUM_AGENT_SEEN_SECONDS },
        (counts) => routeJob(counts) === 'legacy',
      );
      return { legacy, timeoutSeconds: deps.timeoutSeconds };
    },
  };
}

/** The result the workflow gets for a job a predecessor agent scanned (nmap2json: no XML, no raw result). */
export function legacyJobResult(job: { runId: string; jobId: string; sha256: string | null; startedAt: Date | null; size?: number }): NmapJobResult {
  return {
    runId: job.runId,
    jobId: job.jobId,
    sha256: job.sha256 ?? '',
    size: job.size ?? 0,
    exitCode: 0,
    interrupted: false,
    durationMs: job.startedAt ? Math.max(0, Date.now() - job.startedAt.getTime()) : 0,
    delivery: 'uploaded',
  };
}

/** The bridge's nmap activity: checks the job as the runner would, holds its attempt for a predecessor agent. */
export function createBridgeNmapActivity(deps: { store: Store; log: Logger }): { runNmapJob(spec: JobSpec): Promise<NmapJobResult> } {
  return {
    async runNmapJob(spec) {
      const ctx = Context.current();
      try {
        // The checks Plum's runner makes before starting nmap: the agent runs whatever it is given.
        legacyJobParams({ ...spec, allowScripts: spec.allowScripts ?? [], customScripts: spec.customScripts ?? [] }, () => installedScriptDb());
      } catch (e) {
        throw toActivityFailure(e);
      }
      const held = await holdJobForLegacy(deps.store, spec.jobId, ctx.info.taskToken, ctx.info.attempt);
      if (held.kind === 'ingested') {
        // A result of an earlier attempt arrived after that attempt timed out: it stands.
        return legacyJobResult({ runId: spec.runId, jobId: spec.jobId, sha256: held.sha256, startedAt: held.startedAt });
      }
      if (held.kind === 'cancelled') throw new CancelledFailure(`job ${spec.index} was cancelled`);
      if (held.kind === 'gone') {
        throw ApplicationFailure.create({ message: `job ${spec.jobId} is no longer waiting to be scanned`, type: 'conflict', nonRetryable: true });
      }
      deps.log.debug({ jobId: spec.jobId, attempt: ctx.info.attempt }, "job held for the predecessor's agents");
      throw new CompleteAsyncError();
    },
  };
}
