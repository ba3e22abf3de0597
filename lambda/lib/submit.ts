/**
 * Creating a task, shared by TaskApi `submit` and the triggers (lambda/lib/trigger-*.ts), so a
 * task is accepted the same way from both: the payload checked, the item written with the
 * conditional put of `TaskStore.create` (an id that is taken blocks it), the execution started,
 * and the write undone when the start fails, so a failed call leaves nothing accepted. What a
 * taken id means is the caller's: TaskAlreadyExists for TaskApi, a counted duplicate for a trigger.
 */
import { randomUUID } from 'node:crypto';
import {
  encodePayload,
  executionArn,
  executionName,
  isoTime,
  type KafkaRangeMarker,
  listKey,
  ServiceError,
  statusKey,
  type TaskFunctionDescriptor,
  type TaskItem,
  type TaskSource,
  TaskStatus,
} from '../model';
import type { ServiceConfig } from './env';
import { startExecution } from './executions';
import { logger } from './logger';
import { storedEvent, TaskStore } from './task-store';

/** Record expiry (DynamoDB TTL): retention after the latest possible start of the attempt. */
export function expiresAtFor(config: ServiceConfig, descriptor: TaskFunctionDescriptor, nowMs: number): number {
  return Math.floor(nowMs / 1000) + descriptor.maxEventAgeSeconds + config.retentionSeconds;
}

/**
 * Starts the execution of a just-written item; if that fails, undoes the write (conditionally, so
 * a newer writer wins) and throws a ServiceError, so a failed call leaves nothing accepted.
 */
export async function startOrUndo(
  descriptor: TaskFunctionDescriptor,
  item: TaskItem,
  how: { undo: () => Promise<boolean>; undoing: string; failure: string; outcome: string },
): Promise<void> {
  const where = { functionName: descriptor.name, taskId: item.taskId };
  try {
    await startExecution(descriptor, item);
  } catch (error) {
    logger.error(`StartExecution failed; ${how.undoing}`, { ...where, error });
    try {
      if (!(await how.undo())) logger.warn(`${how.undoing} skipped: the task has changed since`, where);
    } catch (undoError) {
      logger.error(`could not finish ${how.undoing} after StartExecution failed`, { ...where, error: undoError });
    }
    throw new ServiceError(`${how.failure} (${(error as Error).name}: ${(error as Error).message}); ${how.outcome}`, { cause: error });
  }
}

/** A task to create: its id (already valid), payload, who creates it and, for a trigger's task, its lineage. */
export interface NewTask {
  readonly taskId: string;
  /** Any JSON value; `{}` when undefined. */
  readonly payload?: unknown;
  readonly source?: TaskSource;
  /**
   * Who creates it, recorded on its first event: the TaskApi request's caller, or the trigger's
   * source (model `callerOfSource`).
   */
  readonly caller: string;
}

/**
 * The outcome: the task written and its execution started, or the id was taken (`existing` is
 * what holds it: a task, a trigger's range marker, or undefined when it vanished before it could
 * be read). A failed start throws ServiceError after the write was undone; AWS errors of the put
 * are thrown as they are.
 */
export type CreateOutcome =
  | { readonly created: true; readonly item: TaskItem }
  | { readonly created: false; readonly existing: TaskItem | KafkaRangeMarker | undefined };

export async function createTask(
  config: ServiceConfig,
  descriptor: TaskFunctionDescriptor,
  task: NewTask,
  now: number = Date.now(),
): Promise<CreateOutcome> {
  const { taskId } = task;
  const taskPayload = encodePayload(task.payload === undefined ? {} : task.payload);
  const requestId = randomUUID();
  const startedAt = isoTime(now);
  const item: TaskItem = {
    functionName: descriptor.name,
    taskId,
    requestId,
    status: TaskStatus.Enqueued,
    statusKey: statusKey(descriptor.name, TaskStatus.Enqueued),
    listKey: listKey(startedAt, taskId),
    taskPayload,
    alreadyRetriedTimes: 0,
    startedAt,
    deadline: isoTime(now + descriptor.maxEventAgeSeconds * 1000),
    events: [
      storedEvent(TaskStatus.Enqueued, startedAt, task.source ? `created by a ${task.source.type} trigger` : 'submitted', task.caller),
    ],
    executionArn: executionArn(descriptor.stateMachineArn, executionName(requestId)),
    expiresAt: expiresAtFor(config, descriptor, now),
    ...(task.source ? { source: task.source } : {}),
  };
  const store = new TaskStore(config.table);
  const written = await store.create(item, now);
  if (!written.ok) return { created: false, existing: written.current };
  await startOrUndo(descriptor, item, {
    undo: () => store.deleteIfRequest(item, requestId),
    undoing: 'removing the task',
    failure: `could not start task '${taskId}' of function '${descriptor.name}'`,
    outcome: task.source ? 'the task was not created; its records are retried' : 'the task was not accepted, submit it again',
  });
  logger.info('task submitted', {
    functionName: descriptor.name,
    taskId,
    requestId,
    caller: task.caller,
    ...(task.source ? { source: task.source } : {}),
  });
  return { created: true, item };
}
