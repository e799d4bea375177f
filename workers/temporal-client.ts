/*
 * LIVE-SERVER CODE — needs a reachable Temporal frontend; not exercised by the
 * test suite (no Temporal server can run on the project's machines). Kept thin:
 * everything it starts runs workflows/ code that the bundle, lint and replay
 * tests cover. deploy/README.md says how to exercise it against a real
 * deployment.
 */
import { Client, Connection, WorkflowIdReusePolicy } from '@temporalio/client';
import type { PlumConfig } from '../core/config.ts';
import { PlumError } from '../core/errors.ts';
import { initialState } from '../workflows/logic/scan-run.ts';
import type { RunCounters, RunRequest, RunSummary } from '../workflows/logic/types.ts';
import { DEFAULT_SCAN_TASK_QUEUE } from '../workflows/options.ts';
import { progressQuery, SA_PRIORITY, SA_PROFILE, SA_RUN_KIND, type ScanWorkflowInput } from '../workflows/temporal-run.ts';

export async function connectTemporal(config: PlumConfig, address = config.PLUM_TEMPORAL_ADDRESS): Promise<{ client: Client; close(): Promise<void> }> {
  if (!address) {
    throw new PlumError('usage', 'no Temporal address configured', { hint: 'set PLUM_TEMPORAL_ADDRESS=HOST:PORT or pass --temporal-address' });
  }
  let connection: Connection;
  try {
    connection = await Connection.connect({ address });
  } catch (e) {
    throw new PlumError('unavailable', `cannot reach Temporal at ${address}: ${(e as Error).message}`, {
      hint: 'check the address and that the Temporal frontend is running (deploy/README.md)',
    });
  }
  return { client: new Client({ connection, namespace: config.PLUM_TEMPORAL_NAMESPACE }), close: () => connection.close() };
}

/** Starts a run's workflow on Temporal and follows its progress until it ends. */
export async function runOnTemporalServer(
  config: PlumConfig, request: RunRequest, opts: { priority?: number; onProgress?(p: { counters: RunCounters; nextIndex: number }): void; signal?: AbortSignal } = {},
): Promise<RunSummary> {
  const { client, close } = await connectTemporal(config);
  try {
    const input: ScanWorkflowInput = { state: initialState(request), scanTaskQueue: config.PLUM_TEMPORAL_SCAN_QUEUE ?? DEFAULT_SCAN_TASK_QUEUE };
    const handle = await client.workflow.start(request.kind === 'profile' ? 'scanProfileWorkflow' : 'investigationWorkflow', {
      taskQueue: config.PLUM_TEMPORAL_TASK_QUEUE,
      workflowId: request.workflowId,
      args: [input],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      typedSearchAttributes: [
        { key: SA_RUN_KIND, value: request.kind },
        ...(request.kind === 'profile' ? [{ key: SA_PROFILE, value: request.profile }] : []),
        ...(opts.priority !== undefined ? [{ key: SA_PRIORITY, value: opts.priority }] : []),
      ],
      memo: request.kind === 'investigation' ? { targets: request.targets.slice(0, 50), reason: request.reason ?? '' } : { profile: request.profile },
    });
    const poll = setInterval(() => {
      handle.query(progressQuery).then((p) => opts.onProgress?.(p), () => undefined);
    }, 2000);
    const onAbort = () => void handle.cancel().catch(() => undefined);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await handle.result() as RunSummary;
    } finally {
      clearInterval(poll);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  } finally {
    await close();
  }
}
