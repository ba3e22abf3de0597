/**
 * The finalize step (docs/design.md, "Every failure ending goes to the finalizer"): given a task
 * and how its execution ended, write the terminal status, deliver the failure record, and give
 * the concurrency slot back. Shared by the finalizer (EventBridge status-change events), the
 * reconciler (executions whose event was lost) and TaskApi `stop` (an execution that had already
 * ended). Idempotent: a task already terminal is left alone unless its delivery is still Pending.
 */
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  buildDestinationRecord,
  canTransition,
  DestinationCondition,
  DestinationStatus,
  ExecutionError,
  isoTime,
  isTerminal,
  statusKey,
  TABLE,
  type TaskFunctionDescriptor,
  type TaskItem,
  TaskStatus,
} from '../model';
import { deliver } from './destinations';
import { buildUpdate, isConditionalCheckFailed, storedEvent } from './dynamo';
import { aws, type ServiceConfig } from './env';
import { log } from './log';

/** How an execution ended: Step Functions' status (FAILED, TIMED_OUT, ABORTED, ...) and error. */
export interface ExecutionEnd {
  readonly executionArn: string;
  /** `FAILED`, `TIMED_OUT`, `ABORTED`, `SUCCEEDED`, or `MISSING` when the execution does not exist. */
  readonly status: string;
  readonly error?: string;
  readonly cause?: string;
}

export interface TaskRef {
  readonly functionName: string;
  readonly taskId: string;
}

export type FinalizeAction =
  /** The terminal status was written (and the record delivered). */
  | 'finalized'
  /** Already terminal with delivery Pending: delivered again. */
  | 'redelivered'
  /** Already terminal: nothing to do. */
  | 'unchanged'
  /** The execution no longer owns the task (a retry started a newer one). */
  | 'stale'
  | 'not-found';

export interface FinalizeResult {
  readonly action: FinalizeAction;
  /** The task as last written or read. */
  readonly item?: TaskItem;
  readonly slotReleased: boolean;
}

/** Error name Step Functions reports for an execution stopped through TaskApi (StopExecution `error`). */
export const STOPPED_ERROR = 'TaskStopped';
/** Stored error messages are capped: a container failure's cause is a whole ECS task description. */
export const MAX_ERROR_MESSAGE_CHARS = 4096;

const CONDITION_OF: Partial<Record<TaskStatus, DestinationCondition>> = {
  Succeeded: DestinationCondition.Success,
  Failed: DestinationCondition.RetriesExhausted,
  Stopped: DestinationCondition.Stopped,
  Expired: DestinationCondition.EventAgeExceeded,
  Invalid: DestinationCondition.Invalid,
};

/** The finalizer table of docs/design.md: terminal status for an active task and its execution's end. */
export function terminalStatusFor(item: TaskItem, end: ExecutionEnd, nowIso: string): TaskStatus {
  if (item.status === TaskStatus.Stopping || end.status === 'ABORTED') return TaskStatus.Stopped;
  const expired =
    end.error === ExecutionError.Expired || (end.error === ExecutionError.NotRunnable && item.deadline <= nowIso);
  if (expired && canTransition(item.status, TaskStatus.Expired)) return TaskStatus.Expired;
  if (end.error === ExecutionError.Invalid && canTransition(item.status, TaskStatus.Invalid)) return TaskStatus.Invalid;
  return TaskStatus.Failed;
}

export function conditionFor(status: TaskStatus): DestinationCondition {
  return CONDITION_OF[status] ?? DestinationCondition.RetriesExhausted;
}

function truncate(text: string): string {
  return text.length > MAX_ERROR_MESSAGE_CHARS ? `${text.slice(0, MAX_ERROR_MESSAGE_CHARS)}…` : text;
}

/**
 * `{errorType, errorMessage}` of an ended execution. A Lambda task's failure cause is Lambda's
 * JSON error (`{"errorMessage", "errorType", "trace"}`), which is unwrapped; anything else keeps
 * the Step Functions error name and the cause text. `ownMessage` (the record's taskErrorMessage,
 * written by a container's runtime helper) wins over a cause that is not Lambda's.
 */
export function errorOfExecution(
  end: ExecutionEnd,
  terminal: TaskStatus,
  ownMessage?: string,
  deadline?: string,
): { errorType: string; errorMessage: string } {
  if (end.cause) {
    try {
      const parsed = JSON.parse(end.cause) as { errorMessage?: unknown; errorType?: unknown };
      if (parsed && typeof parsed === 'object' && typeof parsed.errorMessage === 'string') {
        return {
          errorType: typeof parsed.errorType === 'string' ? parsed.errorType : (end.error ?? 'Error'),
          errorMessage: truncate(parsed.errorMessage),
        };
      }
    } catch {
      // not JSON: the cause is plain text
    }
  }
  const errorType = end.error ?? (terminal === TaskStatus.Stopped ? STOPPED_ERROR : `Execution${end.status}`);
  let errorMessage = ownMessage ?? end.cause;
  if (!errorMessage) {
    switch (terminal) {
      case TaskStatus.Stopped:
        errorMessage = 'the task was stopped';
        break;
      case TaskStatus.Expired:
        errorMessage = `the task did not start before its deadline${deadline ? ` ${deadline}` : ''} (maxEventAge)`;
        break;
      case TaskStatus.Invalid:
        errorMessage = 'the task runner could not be started';
        break;
      default:
        errorMessage = `the execution ended ${end.status}`;
    }
  }
  return { errorType, errorMessage: truncate(errorMessage) };
}

function parsePayload(text: string | undefined): unknown {
  if (text === undefined) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The condition that the task still belongs to the execution (a record without one: none started). */
function ownedBy(end: ExecutionEnd): string {
  return end.executionArn === '' ? 'attribute_not_exists(#executionArn)' : '#executionArn = :arn';
}

function ownerValues(end: ExecutionEnd): Record<string, string> {
  return end.executionArn === '' ? {} : { ':arn': end.executionArn };
}

async function readTask(config: ServiceConfig, ref: TaskRef): Promise<TaskItem | undefined> {
  const result = await aws.ddb().send(
    new GetCommand({
      TableName: config.table,
      Key: { [TABLE.partitionKey]: ref.functionName, [TABLE.sortKey]: ref.taskId },
      ConsistentRead: true,
    }),
  );
  return result.Item as TaskItem | undefined;
}

/** Removes an execution from the function's slot holders; false when it held none. */
export async function releaseSlot(config: ServiceConfig, functionName: string, executionArn: string): Promise<boolean> {
  try {
    await aws.ddb().send(
      new UpdateCommand({
        TableName: config.table,
        Key: { [TABLE.partitionKey]: functionName, [TABLE.sortKey]: TABLE.slotsSortKey },
        UpdateExpression: `DELETE #${TABLE.slotHolders} :arns`,
        ConditionExpression: `contains(#${TABLE.slotHolders}, :arn)`,
        ExpressionAttributeNames: { [`#${TABLE.slotHolders}`]: TABLE.slotHolders },
        ExpressionAttributeValues: { ':arns': new Set([executionArn]), ':arn': executionArn },
      }),
    );
    log('info', 'released concurrency slot', { functionName, executionArn });
    return true;
  } catch (error) {
    if (isConditionalCheckFailed(error)) return false;
    throw error;
  }
}

async function releaseIfLimited(
  config: ServiceConfig,
  descriptor: TaskFunctionDescriptor | undefined,
  functionName: string,
  executionArn: string,
): Promise<boolean> {
  if (descriptor?.maxConcurrency === undefined) return false;
  return releaseSlot(config, functionName, executionArn);
}

/**
 * Delivers the record of a terminal task to its destination and records the outcome in
 * `destinationStatus` (conditional on the delivery still being Pending for this execution).
 */
async function deliverAndRecord(
  config: ServiceConfig,
  descriptor: TaskFunctionDescriptor,
  item: TaskItem,
  end: ExecutionEnd,
): Promise<TaskItem> {
  const success = item.status === TaskStatus.Succeeded;
  const target = success ? descriptor.onSuccess : descriptor.onFailure;
  let outcome: DestinationStatus = DestinationStatus.None;
  if (target) {
    const failure = success ? undefined : errorOfExecution(end, item.status, item.taskErrorMessage, item.deadline);
    const record = buildDestinationRecord({
      condition: conditionFor(item.status),
      taskId: item.taskId,
      requestId: item.requestId,
      functionArn: descriptor.runnerArn,
      approximateInvokeCount: Number(item.alreadyRetriedTimes ?? 0) + 1,
      requestPayload: parsePayload(item.taskPayload),
      responsePayload: success ? parsePayload(item.returnPayload) : failure,
      ...(item.endedAt ? { timestamp: item.endedAt } : {}),
    });
    try {
      await deliver(target, record, success ? 'success' : 'failure');
      outcome = DestinationStatus.Succeeded;
      log('info', 'delivered destination record', {
        functionName: item.functionName,
        taskId: item.taskId,
        condition: record.requestContext.condition,
        destination: target.arn,
      });
    } catch (error) {
      outcome = DestinationStatus.Failed;
      log('error', 'could not deliver destination record', {
        functionName: item.functionName,
        taskId: item.taskId,
        destination: target.arn,
        error,
      });
    }
  }
  try {
    const result = await aws.ddb().send(
      new UpdateCommand({
        TableName: config.table,
        Key: { [TABLE.partitionKey]: item.functionName, [TABLE.sortKey]: item.taskId },
        ...buildUpdate({
          set: { destinationStatus: outcome },
          condition: `#destinationStatus = :pending AND ${ownedBy(end)}`,
          conditionValues: { ':pending': DestinationStatus.Pending, ...ownerValues(end) },
        }),
        ReturnValues: 'ALL_NEW',
      }),
    );
    return (result.Attributes as TaskItem | undefined) ?? { ...item, destinationStatus: outcome };
  } catch (error) {
    // A concurrent finalize recorded the delivery first.
    if (isConditionalCheckFailed(error)) return item;
    throw error;
  }
}

const MAX_ATTEMPTS = 3;

/** Runs the finalize step for one task and one ended execution. Throws only on AWS errors. */
export async function finalizeTask(
  config: ServiceConfig,
  ref: TaskRef,
  end: ExecutionEnd,
  now: () => number = Date.now,
): Promise<FinalizeResult> {
  const descriptor = await config.registry.find(ref.functionName);
  const fields = { functionName: ref.functionName, taskId: ref.taskId, executionArn: end.executionArn };
  for (let attempt = 1; ; attempt++) {
    const item = await readTask(config, ref);
    if (!item) {
      log('warn', 'finalize: task not found', fields);
      return { action: 'not-found', slotReleased: await releaseIfLimited(config, descriptor, ref.functionName, end.executionArn) };
    }
    if ((item.executionArn ?? '') !== end.executionArn) {
      log('info', 'finalize: execution no longer owns the task; ignored', { ...fields, owner: item.executionArn });
      return {
        action: 'stale',
        item,
        slotReleased: await releaseIfLimited(config, descriptor, ref.functionName, end.executionArn),
      };
    }
    if (isTerminal(item.status)) {
      const slotReleased = await releaseIfLimited(config, descriptor, ref.functionName, end.executionArn);
      if (item.destinationStatus === DestinationStatus.Pending && descriptor) {
        log('info', 'finalize: terminal task with a pending delivery; delivering again', { ...fields, status: item.status });
        const delivered = await deliverAndRecord(config, descriptor, item, end);
        return { action: 'redelivered', item: delivered, slotReleased };
      }
      return { action: 'unchanged', item, slotReleased };
    }

    const nowIso = isoTime(now());
    const terminal = terminalStatusFor(item, end, nowIso);
    const target = descriptor?.onFailure;
    const error = errorOfExecution(end, terminal, item.taskErrorMessage, item.deadline);
    const setMessage = terminal !== TaskStatus.Stopped && item.taskErrorMessage === undefined;
    const detail =
      terminal === TaskStatus.Stopped
        ? `execution ${end.status}`
        : `execution ${end.status}${end.error ? `: ${end.error}` : ''}`;
    let written: TaskItem;
    try {
      const result = await aws.ddb().send(
        new UpdateCommand({
          TableName: config.table,
          Key: { [TABLE.partitionKey]: item.functionName, [TABLE.sortKey]: item.taskId },
          ...buildUpdate({
            set: {
              status: terminal,
              [TABLE.statusKey]: statusKey(item.functionName, terminal),
              endedAt: nowIso,
              destinationStatus: target ? DestinationStatus.Pending : DestinationStatus.None,
              [TABLE.ttlAttribute]: Math.floor(now() / 1000) + config.retentionSeconds,
              ...(setMessage ? { taskErrorMessage: error.errorMessage } : {}),
            },
            event: storedEvent(terminal, nowIso, detail),
            condition: `#status = :observed AND ${ownedBy(end)}`,
            conditionValues: { ':observed': item.status, ...ownerValues(end) },
          }),
          ReturnValues: 'ALL_NEW',
        }),
      );
      written = (result.Attributes as TaskItem | undefined) ?? {
        ...item,
        status: terminal,
        endedAt: nowIso,
        destinationStatus: target ? DestinationStatus.Pending : DestinationStatus.None,
      };
    } catch (caught) {
      if (isConditionalCheckFailed(caught) && attempt < MAX_ATTEMPTS) {
        // Someone (stop, the state machine) changed the task between our read and write: read again.
        continue;
      }
      throw caught;
    }
    log('info', `task ${terminal}`, { ...fields, status: terminal, from: item.status, executionStatus: end.status, error: end.error });
    const slotReleased = await releaseIfLimited(config, descriptor, ref.functionName, end.executionArn);
    const delivered = target && descriptor ? await deliverAndRecord(config, descriptor, written, end) : written;
    return { action: 'finalized', item: delivered, slotReleased };
  }
}
