/*
 * The Temporal client of `plum run --temporal`, `plum investigate --temporal`,
 * `plum schedule` and the API (tested against a real dev server in
 * test/temporal-live.test.ts). Kept thin: what it starts runs workflows/.
 */
import { Client, Connection, WorkflowFailedError, WorkflowIdReusePolicy } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { isErrorCode, PlumError, toPlumError } from '../core/errors.ts';
import type { SearchAttributePair } from '@temporalio/common';
import type { PlumConfig } from '../core/config.ts';
import type { RunRequest, RunSummary } from '../workflows/logic/types.ts';
import { progressQuery, SA_PRIORITY, SA_PROFILE, SA_RUN_KIND, type RunProgress } from '../workflows/temporal-run.ts';
import { temporalConnectError, temporalConnectOptions } from './temporal-connection.ts';
import { scanWorkflowInput } from './temporal-input.ts';

export async function connectTemporal(config: PlumConfig, address = config.PLUM_TEMPORAL_ADDRESS): Promise<{ client: Client; close(): Promise<void> }> {
  const options = temporalConnectOptions(config, address);
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...options, connectTimeout: '10s' });
  } catch (e) {
    throw temporalConnectError(config, options.address, e);
  }
  return { client: new Client({ connection, namespace: config.PLUM_TEMPORAL_NAMESPACE }), close: () => connection.close() };
}

/** Search attributes of a run's workflow (the Temporal UI filters on them). */
export function runSearchAttributes(request: RunRequest, priority?: number): SearchAttributePair[] {
  return [
    { key: SA_RUN_KIND, value: request.kind },
    ...(request.kind !== 'investigation' ? [{ key: SA_PROFILE, value: request.profile }] : []),
    ...(priority !== undefined ? [{ key: SA_PRIORITY, value: priority }] : []),
  ];
}

/** Starts a run's workflow (profile or investigation) and returns its handle. */
export async function startRunWorkflow(client: Client, config: PlumConfig, request: RunRequest, opts: { priority?: number } = {}) {
  // A triggered run is a run of its (trigger) profile: the same workflow type, its own id and kind.
  return client.workflow.start(request.kind === 'investigation' ? 'investigationWorkflow' : 'scanProfileWorkflow', {
    taskQueue: config.PLUM_TEMPORAL_TASK_QUEUE,
    workflowId: request.workflowId,
    args: [scanWorkflowInput(config, request)],
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    typedSearchAttributes: runSearchAttributes(request, opts.priority),
    memo: request.kind === 'investigation' ? { targets: request.targets.slice(0, 50), reason: request.reason ?? '' } : { profile: request.profile },
  });
}

/** A workflow that ended without a summary, as one line: cancelled, or the cause of its failure (e.g. out of scope). */
export function workflowError(workflowId: string, e: unknown): PlumError {
  if (!(e instanceof WorkflowFailedError)) return toPlumError(e);
  if (e.cause instanceof CancelledFailure)
    return new PlumError('cancelled', `workflow ${workflowId} was cancelled`, { hint: 'the run is recorded as cancelled' });
  let cause: unknown = e.cause;
  while (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
  if (cause instanceof ApplicationFailure && cause.type && isErrorCode(cause.type)) {
    // The activity's message is already the one line (message and hint) of the PlumError it threw.
    return new PlumError(cause.type, cause.message);
  }
  return new PlumError('internal', `workflow ${workflowId} failed: ${(cause as Error)?.message ?? e.message}`, { hint: 'see the workflow in the Temporal UI' });
}

/** How often a followed run's progress is queried: a stage or a job that ends shows within a second. */
const PROGRESS_POLL_MS = 1000;

/** Starts a run's workflow on Temporal and follows its progress until it ends. */
export async function runOnTemporalServer(
  config: PlumConfig,
  request: RunRequest,
  opts: { priority?: number; onProgress?(p: RunProgress): void; signal?: AbortSignal } = {},
): Promise<RunSummary> {
  const { client, close } = await connectTemporal(config);
  try {
    const handle = await startRunWorkflow(client, config, request, opts);
    const poll = setInterval(() => {
      handle.query(progressQuery).then(
        (p) => opts.onProgress?.(p),
        () => undefined,
      );
    }, PROGRESS_POLL_MS);
    const onAbort = () => void handle.cancel().catch(() => undefined);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return (await handle.result()) as RunSummary;
    } catch (e) {
      throw workflowError(request.workflowId, e);
    } finally {
      clearInterval(poll);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  } finally {
    await close();
  }
}
