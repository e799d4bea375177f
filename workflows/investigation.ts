import type { RunSummary } from './logic/types.ts';
import { runOnTemporal, type ScanWorkflowInput } from './temporal-run.ts';

/** An urgent one-off scan: `investigation:<id>`, priority 4 unless asked otherwise. */
export async function investigationWorkflow(input: ScanWorkflowInput): Promise<RunSummary> {
  return runOnTemporal(input);
}
