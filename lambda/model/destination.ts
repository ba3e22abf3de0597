/**
 * The destination record: AWS Lambda's asynchronous-invocation destination format, so existing
 * consumers of Lambda destinations read it unchanged, plus `requestContext.taskId` and
 * `requestContext.source` (where a trigger took the task from; null for a TaskApi submit).
 * The success path of every state machine builds the same shape in ASL (see
 * lib/state-machine.ts); a test keeps the two in step.
 */
import type { TaskStatus } from './statuses';
import type { TaskSource } from './trigger';

export const DestinationCondition = {
  Success: 'Success',
  RetriesExhausted: 'RetriesExhausted',
  EventAgeExceeded: 'EventAgeExceeded',
  Stopped: 'Stopped',
  Invalid: 'Invalid',
} as const;
export type DestinationCondition = (typeof DestinationCondition)[keyof typeof DestinationCondition];

const CONDITION_OF_STATUS: Partial<Record<TaskStatus, DestinationCondition>> = {
  Succeeded: DestinationCondition.Success,
  Failed: DestinationCondition.RetriesExhausted,
  Stopped: DestinationCondition.Stopped,
  Expired: DestinationCondition.EventAgeExceeded,
  Invalid: DestinationCondition.Invalid,
};

/** The record's `condition` for a task that ended in `status`; undefined for a status that is not terminal. */
export function destinationConditionOf(status: TaskStatus): DestinationCondition | undefined {
  return CONDITION_OF_STATUS[status];
}

/** Where a record goes. `arn` is a queue ARN, topic ARN, event bus ARN or function ARN. */
export const DestinationType = {
  Sqs: 'sqs',
  Sns: 'sns',
  EventBridge: 'eventbridge',
  Lambda: 'lambda',
} as const;
export type DestinationType = (typeof DestinationType)[keyof typeof DestinationType];

export interface DestinationTarget {
  readonly type: DestinationType;
  readonly arn: string;
  /** SQS only: the queue URL. */
  readonly url?: string;
}

export interface DestinationRecord {
  readonly version: '1.0';
  /** ISO-8601, as Lambda writes it. */
  readonly timestamp: string;
  readonly requestContext: {
    readonly requestId: string;
    readonly functionArn: string;
    readonly condition: DestinationCondition;
    readonly approximateInvokeCount: number;
    readonly taskId: string;
    /** The task's lineage (Kafka topic, partition, offsets; SQS queue, message ids); null when it has none. */
    readonly source: TaskSource | null;
  };
  readonly requestPayload: unknown;
  readonly responseContext: {
    readonly statusCode: number;
    readonly executedVersion: string;
    readonly functionError?: string;
  };
  readonly responsePayload: unknown;
}

export interface DestinationRecordInput {
  readonly condition: DestinationCondition;
  readonly taskId: string;
  readonly requestId: string;
  /** ARN of the runner: Lambda function ARN or ECS task definition ARN. */
  readonly functionArn: string;
  readonly approximateInvokeCount: number;
  /** The task's lineage. @default null */
  readonly source?: TaskSource | null;
  readonly requestPayload: unknown;
  /** The result (success) or `{errorMessage, errorType}` (failure). */
  readonly responsePayload?: unknown;
  /** The error type for failures (Lambda's `Unhandled`/`Handled`, or the condition). */
  readonly functionError?: string;
  readonly timestamp?: string;
}

/** EventBridge detail-type of records sent to a bus. */
export const DESTINATION_DETAIL_TYPE = {
  success: 'Task Invocation Result - Success',
  failure: 'Task Invocation Result - Failure',
  /** A trigger's record that could not become a task (lambda/model/trigger.ts QuarantineRecord). */
  quarantine: 'Task Trigger Record Quarantined',
} as const;
export const DESTINATION_EVENT_SOURCE = 'asynctask';

export function buildDestinationRecord(input: DestinationRecordInput): DestinationRecord {
  const success = input.condition === DestinationCondition.Success;
  return {
    version: '1.0',
    timestamp: input.timestamp ?? new Date().toISOString(),
    requestContext: {
      requestId: input.requestId,
      functionArn: input.functionArn,
      condition: input.condition,
      approximateInvokeCount: input.approximateInvokeCount,
      taskId: input.taskId,
      source: input.source ?? null,
    },
    requestPayload: input.requestPayload,
    responseContext: {
      statusCode: 200,
      executedVersion: '$LATEST',
      ...(success ? {} : { functionError: input.functionError ?? 'Unhandled' }),
    },
    responsePayload: input.responsePayload ?? null,
  };
}

/**
 * The destination record a message body holds, or undefined when it is not one (a failure queue
 * may also receive other messages): JSON with version '1.0' and a requestContext naming the
 * task, its condition and the runner.
 */
export function parseDestinationRecord(body: string | undefined): DestinationRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body ?? '');
  } catch {
    return undefined;
  }
  const record = value as Partial<DestinationRecord> | null;
  const context = record?.requestContext as Partial<DestinationRecord['requestContext']> | undefined;
  if (
    record === null ||
    typeof record !== 'object' ||
    record.version !== '1.0' ||
    context === null ||
    typeof context !== 'object' ||
    typeof context.taskId !== 'string' ||
    typeof context.functionArn !== 'string' ||
    !(Object.values(DestinationCondition) as string[]).includes(String(context.condition))
  ) {
    return undefined;
  }
  return record as DestinationRecord;
}

/** The `{errorType, errorMessage}` of a failure record's responsePayload, when it has them. */
export function destinationError(record: DestinationRecord): { errorType?: string; errorMessage?: string } {
  const payload = record.responsePayload as { errorType?: unknown; errorMessage?: unknown } | null;
  if (payload === null || typeof payload !== 'object') return {};
  return {
    ...(typeof payload.errorType === 'string' ? { errorType: payload.errorType } : {}),
    ...(typeof payload.errorMessage === 'string' ? { errorMessage: payload.errorMessage } : {}),
  };
}
