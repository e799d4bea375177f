import { systemResolver } from '../../activities/nmap.ts';
import { PlumError } from '../../core/errors.ts';
import { enforceScriptPolicy, normalisePortList, parseScriptList } from '../../core/profiles.ts';
import { scriptDbFor } from '../../store/repos/nse-scripts.ts';
import { enforceScope } from '../../core/scope.ts';
import type { RunRow } from '../../store/repos/runs.ts';
import { loadPerimeter } from '../../store/repos/targets.ts';
import type { ResolvedDeps } from '../context.ts';

export interface InvestigationForm {
  targets: string[];
  ports: string;
  udpPorts?: string;
  scripts: string[];
  reason?: string;
}

/**
 * Starts an investigation the way POST /v1/investigations and the web form
 * do: ports and scripts checked, the scope guard run at once (the runner checks
 * again before scanning), then the run handed to the server's runner.
 */
export async function startInvestigation(
  deps: Pick<ResolvedDeps, 'store' | 'services'>,
  input: InvestigationForm,
  requestedBy: string,
): Promise<{ runId: string }> {
  const tcpPorts = normalisePortList(input.ports, 'ports');
  const udpPorts = input.udpPorts ? normalisePortList(input.udpPorts, 'UDP ports') : undefined;
  const scripts = parseScriptList(input.scripts);
  // Stock, Plum's and custom scripts (plum nse add), each judged by its categories.
  enforceScriptPolicy(scripts, [], await scriptDbFor(deps.store, scripts));
  await enforceScope(input.targets, await loadPerimeter(deps.store), { resolve: systemResolver });
  if (!deps.services.startInvestigation) {
    throw new PlumError('unavailable', 'this server cannot start investigations', {
      hint: 'run `plum serve` (embedded runner) or configure PLUM_TEMPORAL_ADDRESS',
    });
  }
  return deps.services.startInvestigation({ targets: input.targets, tcpPorts, udpPorts, scripts, reason: input.reason, requestedBy });
}

/** Cancels a queued or running run, as POST /v1/runs/{id}/cancel and the web page's button do. */
export async function cancelRun(deps: Pick<ResolvedDeps, 'services'>, run: Pick<RunRow, 'id' | 'status'>): Promise<void> {
  const { id } = run;
  if (!['queued', 'running'].includes(run.status)) {
    throw new PlumError('conflict', `run ${id} is already ${run.status}`, { hint: 'only queued or running runs can be cancelled' });
  }
  if (!deps.services.cancelRun) {
    throw new PlumError('unavailable', 'this server cannot cancel runs', { hint: 'cancel from the process running it (plum serve or the Temporal UI)' });
  }
  await deps.services.cancelRun(id);
}
