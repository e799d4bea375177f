import { proxyActivities } from '@temporalio/workflow';
import type { createReportActivities } from '../activities/report.ts';
import { SERVER_ACTIVITY_OPTIONS } from './options.ts';

/*
 * One scheduled run of a stored report definition: `report:<name>`, started by
 * the definition's Temporal Schedule (`plum-report:<name>`). The activity is
 * the same runReportDefinition the embedded scheduler and a preview use;
 * delivery failures are recorded and retried by the webhook backoff, not
 * thrown, so a retry of the activity means the report itself failed.
 */

export type ReportActivities = ReturnType<typeof createReportActivities>;

export interface ReportWorkflowInput {
  /** The definition's name (or id). */
  report: string;
}

const reports = proxyActivities<ReportActivities>(SERVER_ACTIVITY_OPTIONS);

export async function reportWorkflow(input: ReportWorkflowInput): Promise<Awaited<ReturnType<ReportActivities['runReportDefinition']>>> {
  return reports.runReportDefinition(input.report);
}
