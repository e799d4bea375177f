import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import type { temporal } from '@temporalio/proto';

/*
 * A small builder of Temporal workflow histories in the proto JSON format that
 * `temporal workflow show --output json` exports. Replay tests describe the
 * events a server would have recorded for a scenario (workflow tasks, activity
 * scheduled/started/completed/failed/timed out, search attribute and memo
 * upserts, completion or continue-as-new) and the SDK's replayer checks that
 * the workflow code issues exactly the matching commands.
 *
 * Conventions the SDK relies on and the builder follows: activity ids are the
 * workflow's activity sequence numbers ("1", "2", …); every command event
 * points at the WorkflowTaskCompleted event that produced it.
 */

type Json = Record<string, unknown>;

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** A payload as the default (JSON) payload converter writes it. */
export function jsonPayload(value: unknown): Json {
  if (value === undefined) return { metadata: { encoding: b64('binary/null') } };
  return { metadata: { encoding: b64('json/plain') }, data: b64(JSON.stringify(value)) };
}

export interface StartOptions {
  workflowType: string;
  workflowId: string;
  taskQueue: string;
  input: unknown[];
  start?: Date;
  runId?: string;
  searchAttributes?: Record<string, unknown>;
  memo?: Record<string, unknown>;
}

export interface ScheduleOptions {
  taskQueue: string;
  input?: unknown[];
  startToCloseTimeout?: string;
  heartbeatTimeout?: string;
  priorityKey?: number;
  /** The activity id the workflow chose (default: the SDK's sequence number). */
  activityId?: string;
}

export class HistoryBuilder {
  readonly events: Json[] = [];
  readonly workflowId: string;
  private time: number;
  private activitySeq = 0;
  private lastCompleted = 0;
  private readonly taskQueue: string;
  private readonly activities = new Map<number, { type: string; scheduledId: number; startedId?: number }>();

  constructor(opts: StartOptions) {
    this.time = (opts.start ?? new Date('2026-11-23T10:00:00Z')).getTime();
    this.workflowId = opts.workflowId;
    this.taskQueue = opts.taskQueue;
    const runId = opts.runId ?? '0a0b0c0d-0000-4000-8000-000000000001';
    this.add('EVENT_TYPE_WORKFLOW_EXECUTION_STARTED', 'workflowExecutionStartedEventAttributes', {
      workflowType: { name: opts.workflowType },
      taskQueue: { name: opts.taskQueue, kind: 'TASK_QUEUE_KIND_NORMAL' },
      input: { payloads: opts.input.map(jsonPayload) },
      workflowExecutionTimeout: '0s',
      workflowRunTimeout: '0s',
      workflowTaskTimeout: '10s',
      originalExecutionRunId: runId,
      firstExecutionRunId: runId,
      identity: 'history-builder',
      attempt: 1,
      firstWorkflowTaskBackoff: '0s',
      header: {},
      ...(opts.memo ? { memo: { fields: mapValues(opts.memo, jsonPayload) } } : {}),
      ...(opts.searchAttributes ? { searchAttributes: { indexedFields: mapValues(opts.searchAttributes, jsonPayload) } } : {}),
    });
  }

  private add(eventType: string, attrName: string, attrs: Json): number {
    const eventId = this.events.length + 1;
    this.time += 1000;
    this.events.push({
      eventId: String(eventId),
      eventTime: new Date(this.time).toISOString(),
      eventType,
      [attrName]: attrs,
    });
    return eventId;
  }

  /** A full workflow task: scheduled, started, completed. Commands added next belong to it. */
  workflowTask(): this {
    const scheduled = this.add('EVENT_TYPE_WORKFLOW_TASK_SCHEDULED', 'workflowTaskScheduledEventAttributes', {
      taskQueue: { name: this.taskQueue, kind: 'TASK_QUEUE_KIND_NORMAL' },
      startToCloseTimeout: '10s',
      attempt: 1,
    });
    const started = this.add('EVENT_TYPE_WORKFLOW_TASK_STARTED', 'workflowTaskStartedEventAttributes', {
      scheduledEventId: String(scheduled),
      identity: 'history-builder',
      requestId: `req-${scheduled}`,
    });
    this.lastCompleted = this.add('EVENT_TYPE_WORKFLOW_TASK_COMPLETED', 'workflowTaskCompletedEventAttributes', {
      scheduledEventId: String(scheduled),
      startedEventId: String(started),
      identity: 'history-builder',
    });
    return this;
  }

  /** ScheduleActivityTask command of the last workflow task; returns the activity's sequence number. */
  scheduleActivity(type: string, opts: ScheduleOptions): number {
    const seq = ++this.activitySeq;
    const scheduledId = this.add('EVENT_TYPE_ACTIVITY_TASK_SCHEDULED', 'activityTaskScheduledEventAttributes', {
      activityId: opts.activityId ?? String(seq),
      activityType: { name: type },
      taskQueue: { name: opts.taskQueue, kind: 'TASK_QUEUE_KIND_NORMAL' },
      header: {},
      input: { payloads: (opts.input ?? []).map(jsonPayload) },
      scheduleToCloseTimeout: '0s',
      scheduleToStartTimeout: '0s',
      startToCloseTimeout: opts.startToCloseTimeout ?? '900s',
      heartbeatTimeout: opts.heartbeatTimeout ?? '0s',
      workflowTaskCompletedEventId: String(this.lastCompleted),
      retryPolicy: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '600s', maximumAttempts: 4 },
      ...(opts.priorityKey ? { priority: { priorityKey: opts.priorityKey } } : {}),
    });
    this.activities.set(seq, { type, scheduledId });
    return seq;
  }

  private started(seq: number, attempt: number, lastFailure?: Json): { scheduledId: number; startedId: number } {
    const a = this.activities.get(seq);
    if (!a) throw new Error(`activity ${seq} was never scheduled`);
    a.startedId = this.add('EVENT_TYPE_ACTIVITY_TASK_STARTED', 'activityTaskStartedEventAttributes', {
      scheduledEventId: String(a.scheduledId),
      identity: 'agent-history-builder',
      requestId: `act-${seq}-${attempt}`,
      attempt,
      ...(lastFailure ? { lastFailure } : {}),
    });
    return { scheduledId: a.scheduledId, startedId: a.startedId };
  }

  /**
   * The activity completed, possibly on a later attempt (the server records only
   * the last attempt's start, with the previous attempt's failure).
   */
  completeActivity(seq: number, result: unknown, opts: { attempt?: number; lastFailure?: Json } = {}): this {
    const { scheduledId, startedId } = this.started(seq, opts.attempt ?? 1, opts.lastFailure);
    this.add('EVENT_TYPE_ACTIVITY_TASK_COMPLETED', 'activityTaskCompletedEventAttributes', {
      result: { payloads: [jsonPayload(result)] },
      scheduledEventId: String(scheduledId),
      startedEventId: String(startedId),
      identity: 'agent-history-builder',
    });
    return this;
  }

  /** The activity failed for good (non-retryable, or retries spent). */
  failActivity(seq: number, failure: Json, opts: { attempt?: number } = {}): this {
    const { scheduledId, startedId } = this.started(seq, opts.attempt ?? 1);
    this.add('EVENT_TYPE_ACTIVITY_TASK_FAILED', 'activityTaskFailedEventAttributes', {
      failure,
      scheduledEventId: String(scheduledId),
      startedEventId: String(startedId),
      identity: 'agent-history-builder',
      retryState: 'RETRY_STATE_NON_RETRYABLE_FAILURE',
    });
    return this;
  }

  /** The activity timed out on its last attempt (e.g. heartbeat timeout: the agent vanished). */
  timeOutActivity(seq: number, timeoutType: 'TIMEOUT_TYPE_HEARTBEAT' | 'TIMEOUT_TYPE_START_TO_CLOSE', opts: { attempt?: number } = {}): this {
    const { scheduledId, startedId } = this.started(seq, opts.attempt ?? 1, heartbeatTimeoutFailure());
    this.add('EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT', 'activityTaskTimedOutEventAttributes', {
      failure: {
        message: `activity ${timeoutType === 'TIMEOUT_TYPE_HEARTBEAT' ? 'Heartbeat' : 'StartToClose'} timeout`,
        source: 'Server',
        timeoutFailureInfo: { timeoutType },
      },
      scheduledEventId: String(scheduledId),
      startedEventId: String(startedId),
      retryState: 'RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED',
    });
    return this;
  }

  /** The marker a first `patched(patchId)` call records: sdk-core's `core_patch` marker, as a real server's history holds it. */
  patchMarker(patchId: string): this {
    this.add('EVENT_TYPE_MARKER_RECORDED', 'markerRecordedEventAttributes', {
      markerName: 'core_patch',
      details: { 'patch-data': { payloads: [jsonPayload({ id: patchId, deprecated: false })] } },
      workflowTaskCompletedEventId: String(this.lastCompleted),
    });
    return this;
  }

  upsertSearchAttributes(fields: Record<string, unknown>): this {
    this.add('EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES', 'upsertWorkflowSearchAttributesEventAttributes', {
      workflowTaskCompletedEventId: String(this.lastCompleted),
      searchAttributes: { indexedFields: mapValues(fields, jsonPayload) },
    });
    return this;
  }

  upsertMemo(fields: Record<string, unknown>): this {
    this.add('EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED', 'workflowPropertiesModifiedEventAttributes', {
      workflowTaskCompletedEventId: String(this.lastCompleted),
      upsertedMemo: { fields: mapValues(fields, jsonPayload) },
    });
    return this;
  }

  completeWorkflow(result: unknown): this {
    this.add('EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED', 'workflowExecutionCompletedEventAttributes', {
      result: { payloads: [jsonPayload(result)] },
      workflowTaskCompletedEventId: String(this.lastCompleted),
    });
    return this;
  }

  continueAsNew(workflowType: string, input: unknown[]): this {
    this.add('EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW', 'workflowExecutionContinuedAsNewEventAttributes', {
      newExecutionRunId: '0a0b0c0d-0000-4000-8000-000000000002',
      workflowType: { name: workflowType },
      taskQueue: { name: this.taskQueue, kind: 'TASK_QUEUE_KIND_NORMAL' },
      input: { payloads: input.map(jsonPayload) },
      workflowRunTimeout: '0s',
      workflowTaskTimeout: '10s',
      workflowTaskCompletedEventId: String(this.lastCompleted),
      header: {},
    });
    return this;
  }

  /** The history in proto JSON (what `temporal workflow show -o json` prints). */
  toJSON(): { events: Json[] } {
    return { events: this.events };
  }

  /** The decoded History object the replayer takes (through protobufjs). */
  build(): temporal.api.history.v1.IHistory {
    return historyFromJSON(this.toJSON());
  }
}

export function heartbeatTimeoutFailure(): Json {
  return { message: 'activity Heartbeat timeout', source: 'Server', timeoutFailureInfo: { timeoutType: 'TIMEOUT_TYPE_HEARTBEAT' } };
}

/** An ApplicationFailure as an activity that threw a PlumError reports it. */
export function applicationFailure(message: string, type: string, nonRetryable: boolean): Json {
  return { message, source: 'TypeScriptSDK', applicationFailureInfo: { type, nonRetryable } };
}

function mapValues<T, U>(o: Record<string, T>, fn: (v: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, fn(v)]));
}
