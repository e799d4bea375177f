import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';

const WORKFLOWS = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

describe('workflow bundle', () => {
  it('bundles workflows/ for the Temporal sandbox with both workflows and no Node modules', async () => {
    const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS, logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } });
    expect(code.length).toBeGreaterThan(10_000);
    expect(code).toContain('scanProfileWorkflow');
    expect(code).toContain('investigationWorkflow');
    expect(code).toContain('executeScanRun');
    // Nothing with side effects was pulled in.
    expect(code).not.toMatch(/from ['"]node:|require\(['"](fs|child_process|net|node:[a-z_]+)['"]\)/);
    expect(code).not.toContain('openStore');
    expect(code).not.toContain('createNmapRunner');
  }, 120_000);
});
