/*
 * Entry point the Temporal worker bundles (workflowsPath). Export only
 * workflow functions and workflow-safe definitions from here.
 */
export { scanProfileWorkflow } from './scan-profile.ts';
export { investigationWorkflow } from './investigation.ts';
export { reportWorkflow } from './report.ts';
