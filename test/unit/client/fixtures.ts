/** Shared stand-ins of the client tests: CloudFormation's DescribeStacks answer and a minimal task record. */
import type { TaskRecord } from '../../../lambda/model';

/** DescribeStacks' answer for the stack `AsyncTaskDemo` with these outputs. */
export function stackWith(outputs: Record<string, string>) {
  return {
    Stacks: [
      {
        StackName: 'AsyncTaskDemo',
        CreationTime: new Date(),
        StackStatus: 'CREATE_COMPLETE' as const,
        Outputs: Object.entries(outputs).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
      },
    ],
  };
}

/** An Enqueued task of `functionName` with nothing else set, overridden by `extra`. */
export function minimalTask(functionName: string, taskId: string, extra: Partial<TaskRecord> = {}): TaskRecord {
  return {
    taskId,
    functionName,
    requestId: 'r',
    status: 'Enqueued',
    taskPayload: null,
    alreadyRetriedTimes: 0,
    startedTime: 1,
    events: [],
    ...extra,
  };
}
