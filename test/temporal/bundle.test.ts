import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';

const WORKFLOWS = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

describe('workflow bundle', () => {
  it('bundles workflows/ for the Temporal sandbox with the scan and report workflows and no Node modules', async () => {
    const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS, logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } });
    expect(code.length).toBeGreaterThan(10_000);
    expect(code).toContain('scanProfileWorkflow');
    expect(code).toContain('investigationWorkflow');
    expect(code).toContain('reportWorkflow');
    expect(code).toContain('executeScanRun');
    // Nothing with side effects was pulled in.
    expect(code).not.toMatch(/from ['"]node:|require\(['"](fs|child_process|net|node:[a-z_]+)['"]\)/);
    expect(code).not.toContain('openStore');
    expect(code).not.toContain('createNmapRunner');
    expect(code).not.toContain('createReportActivities');
    expect(code).not.toContain('nodemailer');
  }, 120_000);
});
