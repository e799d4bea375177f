import type { RunSummary } from './logic/types.ts';
import { runOnTemporal, type ScanWorkflowInput } from './temporal-run.ts';

/**
 * One run of a scan profile: `profile:<name>:<scheduled time>`. Started by the
 * profile's Temporal Schedule or by `plum run PROFILE --temporal`.
 */
export async function scanProfileWorkflow(input: ScanWorkflowInput): Promise<RunSummary> {
  return runOnTemporal(input);
}
