import {
  proxySinks,
  type ActivityInput,
  type ContinueAsNewInput,
  type Next,
  type Sinks,
  type WorkflowInterceptorsFactory,
  type WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';

/*
 * A workflow interceptor module bundled only for replay tests: it reports every
 * activity the workflow schedules (type, task queue, priority, arguments) to the
 * `recorder` sink, so tests assert the commands themselves, not only that the
 * replay matched.
 */
export interface RecorderSinks extends Sinks {
  recorder: {
    activity(a: {
      type: string;
      activityId?: string;
      taskQueue?: string;
      priorityKey?: number;
      heartbeatTimeout?: unknown;
      startToCloseTimeout?: unknown;
      args: unknown[];
    }): void;
    continued(args: unknown[]): void;
  };
}

const { recorder } = proxySinks<RecorderSinks>();

class RecordActivities implements WorkflowOutboundCallsInterceptor {
  scheduleActivity(input: ActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>): Promise<unknown> {
    recorder.activity({
      type: input.activityType,
      activityId: input.options.activityId,
      taskQueue: input.options.taskQueue,
      priorityKey: input.options.priority?.priorityKey,
      heartbeatTimeout: input.options.heartbeatTimeout,
      startToCloseTimeout: input.options.startToCloseTimeout,
      args: input.args,
    });
    return next(input);
  }

  continueAsNew(input: ContinueAsNewInput, next: Next<WorkflowOutboundCallsInterceptor, 'continueAsNew'>): Promise<never> {
    recorder.continued(input.args);
    return next(input);
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ outbound: [new RecordActivities()] });
