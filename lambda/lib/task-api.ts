/**
 * TaskApi operations (docs/design.md, "TaskApi"): submit, get, list, stop, retry, logs, functions.
 * Each validates its input, throws errors of the model's hierarchy, and logs one structured line
 * naming the function and the task. The handler turns whatever is thrown into a wire error.
 */
import { randomUUID } from 'node:crypto';
import { FilterLogEventsCommand, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { StopExecutionCommand } from '@aws-sdk/client-sfn';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  ConcurrentModificationError,
  encodePayload,
  executionArn,
  executionName,
  generateTaskId,
  InvalidArgumentError,
  InvalidTaskStateError,
  isoTime,
  type ListRequest,
  type ListResult,
  type LogEvent,
  type LogsRequest,
  type LogsResult,
  listKey,
  OPERATIONS,
  RETRYABLE_STATUSES,
  recordFromItem,
  STOPPABLE_STATUSES,
  ServiceError,
  type SubmitRequest,
  statusKey,
  TABLE,
  TaskAlreadyExistsError,
  type TaskApiRequest,
  type TaskFunctionDescriptor,
  type TaskFunctionSummary,
  type TaskItem,
  TaskNotFoundError,
  type TaskRecord,
  type TaskStatus,
  TaskStatus as Status,
  validateTaskId,
} from '../model';
import { buildUpdate, isConditionalCheckFailed, itemOfConditionFailure, namesOf, statusIn, storedEvent, type UpdateSpec } from './dynamo';
import { aws, type ServiceConfig } from './env';
import { describeEnd, startExecution } from './executions';
import { finalizeTask, STOPPED_ERROR } from './finalize';
import { encodeNextToken, indexKeyOf, planList } from './list-plan';
import { log } from './log';

/** Query pages read at most per `list` call when filters leave pages sparse. */
export const LIST_MAX_PAGES = 10;
/** Items read per Query page when a filter applies (Limit counts before filtering). */
export const LIST_FILTERED_PAGE_SIZE = 100;
/** Bounds of `logs` `limit` (GetLogEvents / FilterLogEvents accept up to 10,000). */
export const LOGS_LIMIT = { min: 1, max: 10_000, default: 100 } as const;
/** FilterLogEvents window after a Lambda task's end: the platform's REPORT line comes a little later. */
export const LOGS_END_SLACK_MS = 60_000;

function key(functionName: string, taskId: string): Record<string, string> {
  return { [TABLE.partitionKey]: functionName, [TABLE.sortKey]: taskId };
}

function taskNotFound(functionName: string, taskId: string): TaskNotFoundError {
  return new TaskNotFoundError(`task '${taskId}' of function '${functionName}' not found`, {
    details: { functionName, taskId },
  });
}

function listStatuses(statuses: readonly TaskStatus[]): string {
  return statuses.length <= 1
    ? statuses.join('')
    : `${statuses.slice(0, -1).join(', ')} or ${statuses[statuses.length - 1]}`;
}

/** Record expiry (DynamoDB TTL): retention after the latest possible start of the attempt. */
function expiresAtFor(config: ServiceConfig, descriptor: TaskFunctionDescriptor, nowMs: number): number {
  return Math.floor(nowMs / 1000) + descriptor.maxEventAgeSeconds + config.retentionSeconds;
}

async function readItem(config: ServiceConfig, functionName: string, taskId: string): Promise<TaskItem> {
  const result = await aws.ddb().send(
    new GetCommand({ TableName: config.table, Key: key(functionName, taskId), ConsistentRead: true }),
  );
  if (!result.Item) throw taskNotFound(functionName, taskId);
  return result.Item as TaskItem;
}

/** Condition: the item still carries this request's id (nobody has moved it since). */
function sameRequest(requestId: string) {
  return {
    ConditionExpression: '#requestId = :requestId',
    ExpressionAttributeNames: { '#requestId': 'requestId' },
    ExpressionAttributeValues: { ':requestId': requestId },
  };
}

/**
 * Starts the execution of a just-written item; if that fails, undoes the write (conditionally, so
 * a newer writer wins) and throws a ServiceError, so a failed call leaves nothing accepted.
 */
async function startOrUndo(
  descriptor: TaskFunctionDescriptor,
  item: TaskItem,
  how: { undo: () => Promise<unknown>; undoing: string; failure: string; outcome: string },
): Promise<void> {
  const where = { functionName: descriptor.name, taskId: item.taskId };
  try {
    await startExecution(descriptor, item);
  } catch (error) {
    log('error', `StartExecution failed; ${how.undoing}`, { ...where, error });
    try {
      await how.undo();
    } catch (undoError) {
      log('error', `could not finish ${how.undoing} after StartExecution failed`, { ...where, error: undoError });
    }
    throw new ServiceError(
      `${how.failure} (${(error as Error).name}: ${(error as Error).message}); ${how.outcome}`,
      { cause: error },
    );
  }
}

export async function submit(config: ServiceConfig, request: SubmitRequest, now: number = Date.now()): Promise<TaskRecord> {
  const descriptor = await config.registry.get(request.functionName);
  const taskId = request.taskId === undefined ? generateTaskId() : validateTaskId(request.taskId);
  const payload = request.payload === undefined ? {} : request.payload;
  const taskPayload = encodePayload(payload);
  const requestId = randomUUID();
  const startedAt = isoTime(now);
  const item: TaskItem = {
    functionName: descriptor.name,
    taskId,
    requestId,
    status: Status.Enqueued,
    statusKey: statusKey(descriptor.name, Status.Enqueued),
    listKey: listKey(startedAt, taskId),
    taskPayload,
    alreadyRetriedTimes: 0,
    startedAt,
    deadline: isoTime(now + descriptor.maxEventAgeSeconds * 1000),
    events: [storedEvent(Status.Enqueued, startedAt, 'submitted')],
    executionArn: executionArn(descriptor.stateMachineArn, executionName(requestId)),
    expiresAt: expiresAtFor(config, descriptor, now),
  };
  try {
    await aws.ddb().send(
      new PutCommand({
        TableName: config.table,
        Item: item,
        ConditionExpression: `attribute_not_exists(#${TABLE.sortKey}) OR #${TABLE.ttlAttribute} < :nowSeconds`,
        ExpressionAttributeNames: namesOf(`#${TABLE.sortKey} #${TABLE.ttlAttribute}`),
        ExpressionAttributeValues: { ':nowSeconds': Math.floor(now / 1000) },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
  } catch (error) {
    if (!isConditionalCheckFailed(error)) throw error;
    const existing =
      itemOfConditionFailure(error) ??
      ((
        await aws.ddb().send(
          new GetCommand({ TableName: config.table, Key: key(descriptor.name, taskId), ConsistentRead: true }),
        )
      ).Item as TaskItem | undefined);
    if (!existing) {
      throw new ServiceError(`task '${taskId}' of function '${descriptor.name}' was being written concurrently; submit it again`, {
        cause: error,
      });
    }
    const existingTask = recordFromItem(existing, now);
    log('info', 'submit rejected: duplicate task id', { functionName: descriptor.name, taskId, status: existing.status });
    throw new TaskAlreadyExistsError(
      `task '${taskId}' of function '${descriptor.name}' already exists (status ${existing.status}, requestId ${existing.requestId}); a task id stays reserved while its record is kept`,
      existingTask,
      { cause: error },
    );
  }
  await startOrUndo(descriptor, item, {
    undo: () =>
      aws.ddb().send(new DeleteCommand({ TableName: config.table, Key: key(descriptor.name, taskId), ...sameRequest(requestId) })),
    undoing: 'removing the task',
    failure: `could not start task '${taskId}' of function '${descriptor.name}'`,
    outcome: 'the task was not accepted, submit it again',
  });
  log('info', 'task submitted', { functionName: descriptor.name, taskId, requestId });
  return recordFromItem(item, now);
}

export async function get(config: ServiceConfig, functionName: string, taskId: string): Promise<TaskRecord> {
  const descriptor = await config.registry.get(functionName);
  validateTaskId(taskId);
  return recordFromItem(await readItem(config, descriptor.name, taskId));
}

export async function list(config: ServiceConfig, request: Omit<ListRequest, 'op'>): Promise<ListResult> {
  const descriptor = await config.registry.get(request.functionName);
  const plan = planList({ ...request, functionName: descriptor.name });
  const tasks: TaskItem[] = [];
  let startKey: Record<string, unknown> | undefined = plan.exclusiveStartKey;
  let nextToken: string | undefined;
  for (let page = 0; ; page++) {
    const wanted = plan.limit - tasks.length;
    let result: Awaited<ReturnType<typeof queryPage>>;
    try {
      // Unfiltered: read one more than needed to know whether a next page exists.
      result = await queryPage(config, plan, startKey, plan.filtered ? LIST_FILTERED_PAGE_SIZE : wanted + 1);
    } catch (error) {
      if (startKey && (error as { name?: string }).name === 'ValidationException') {
        throw new InvalidArgumentError('nextToken is not valid for this list request (DynamoDB rejected the start key)', {
          cause: error,
        });
      }
      throw error;
    }
    const items = (result.Items ?? []) as TaskItem[];
    const taken = items.slice(0, wanted);
    tasks.push(...taken);
    if (tasks.length >= plan.limit) {
      if (items.length > taken.length || result.LastEvaluatedKey) {
        nextToken = encodeNextToken(indexKeyOf(tasks[tasks.length - 1], plan));
      }
      break;
    }
    if (!result.LastEvaluatedKey) break;
    startKey = result.LastEvaluatedKey;
    if (page + 1 >= LIST_MAX_PAGES) {
      // Sparse matches: hand back where the reading stopped, so the caller continues from there.
      nextToken = encodeNextToken(indexKeyOf(result.LastEvaluatedKey as TaskItem, plan));
      break;
    }
  }
  const now = Date.now();
  return { tasks: tasks.map((item) => recordFromItem(item, now)), ...(nextToken ? { nextToken } : {}) };
}

function queryPage(
  config: ServiceConfig,
  plan: ReturnType<typeof planList>,
  startKey: Record<string, unknown> | undefined,
  limit: number,
) {
  return aws.ddb().send(
    new QueryCommand({
      TableName: config.table,
      IndexName: plan.indexName,
      KeyConditionExpression: plan.keyConditionExpression,
      ...(plan.filterExpression ? { FilterExpression: plan.filterExpression } : {}),
      ExpressionAttributeNames: plan.expressionAttributeNames,
      ExpressionAttributeValues: plan.expressionAttributeValues,
      ScanIndexForward: plan.scanIndexForward,
      Limit: limit,
      ...(startKey ? { ExclusiveStartKey: startKey } : {}),
    }),
  );
}

function invalidState(taskId: string, status: TaskStatus, allowed: readonly TaskStatus[], action: string): InvalidTaskStateError {
  return new InvalidTaskStateError(
    `task '${taskId}' is ${status}; only ${listStatuses(allowed)} tasks can be ${action}`,
    { details: { taskId, status, allowed } },
  );
}

/**
 * Why a conditional status write was refused: the task is missing, or in a status the operation
 * does not accept. The old item comes with the failure (ALL_OLD) or, from a DynamoDB that does
 * not return it (dynalite), from a consistent read.
 */
async function refusal(
  config: ServiceConfig,
  functionName: string,
  taskId: string,
  error: unknown,
  allowed: readonly TaskStatus[],
  action: string,
): Promise<Error> {
  const existing =
    itemOfConditionFailure(error) ??
    ((
      await aws.ddb().send(
        new GetCommand({ TableName: config.table, Key: key(functionName, taskId), ConsistentRead: true }),
      )
    ).Item as TaskItem | undefined);
  if (!existing) return taskNotFound(functionName, taskId);
  if (allowed.includes(existing.status)) {
    return new ConcurrentModificationError(
      `task '${taskId}' changed while it was being ${action} (now ${existing.status}); read it and try again`,
      { cause: error, details: { taskId, status: existing.status } },
    );
  }
  return invalidState(taskId, existing.status, allowed, action);
}

/**
 * A conditional status write from the statuses an operation accepts (stop, retry). A refused
 * write becomes the error `refusal` explains; the item comes back as `returnValues` asks.
 */
async function moveTask(
  config: ServiceConfig,
  functionName: string,
  taskId: string,
  how: {
    allowed: readonly TaskStatus[];
    action: string;
    returnValues: 'ALL_NEW' | 'ALL_OLD';
    update: Omit<UpdateSpec, 'condition' | 'conditionValues'>;
  },
): Promise<TaskItem> {
  const from = statusIn(how.allowed);
  try {
    const result = await aws.ddb().send(
      new UpdateCommand({
        TableName: config.table,
        Key: key(functionName, taskId),
        ...buildUpdate({ ...how.update, condition: from.expression, conditionValues: from.values }),
        ReturnValues: how.returnValues,
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return result.Attributes as TaskItem;
  } catch (error) {
    if (!isConditionalCheckFailed(error)) throw error;
    throw await refusal(config, functionName, taskId, error, how.allowed, how.action);
  }
}

export async function stop(config: ServiceConfig, functionName: string, taskId: string): Promise<TaskRecord> {
  const descriptor = await config.registry.get(functionName);
  validateTaskId(taskId);
  const at = isoTime();
  const stopping = await moveTask(config, descriptor.name, taskId, {
    allowed: STOPPABLE_STATUSES,
    action: 'stopped',
    returnValues: 'ALL_NEW',
    update: {
      set: { status: Status.Stopping, [TABLE.statusKey]: statusKey(descriptor.name, Status.Stopping) },
      event: storedEvent(Status.Stopping, at, 'stop requested'),
    },
  });
  log('info', 'task stopping', { functionName: descriptor.name, taskId, executionArn: stopping.executionArn });
  if (!stopping.executionArn) {
    const result = await finalizeTask(config, { functionName: descriptor.name, taskId }, { executionArn: '', status: 'MISSING' });
    return recordFromItem(result.item ?? stopping);
  }
  try {
    await aws.sfn().send(
      new StopExecutionCommand({
        executionArn: stopping.executionArn,
        error: STOPPED_ERROR,
        cause: `task '${taskId}' was stopped through TaskApi`,
      }),
    );
  } catch (error) {
    // The execution may have ended (or never started): then nobody else will finalize the task.
    const ended = await describeEnd(stopping.executionArn);
    if (!ended) {
      log('error', 'StopExecution failed', { functionName: descriptor.name, taskId, error });
      throw new ServiceError(
        `task '${taskId}' is Stopping but its execution could not be stopped (${(error as Error).name}: ${(error as Error).message}); stop it again`,
        { cause: error },
      );
    }
    log('info', 'execution had already ended; finalizing the task now', {
      functionName: descriptor.name,
      taskId,
      executionStatus: ended.status,
    });
    const result = await finalizeTask(config, { functionName: descriptor.name, taskId }, ended);
    return recordFromItem(result.item ?? stopping);
  }
  return recordFromItem(stopping);
}

export async function retry(config: ServiceConfig, functionName: string, taskId: string, now: number = Date.now()): Promise<TaskRecord> {
  const descriptor = await config.registry.get(functionName);
  validateTaskId(taskId);
  const requestId = randomUUID();
  const startedAt = isoTime(now);
  const event = storedEvent(Status.Enqueued, startedAt, 'retry requested');
  const changes = {
    status: Status.Enqueued,
    statusKey: statusKey(descriptor.name, Status.Enqueued),
    requestId,
    deadline: isoTime(now + descriptor.maxEventAgeSeconds * 1000),
    executionArn: executionArn(descriptor.stateMachineArn, executionName(requestId)),
    startedAt,
    listKey: listKey(startedAt, taskId),
    alreadyRetriedTimes: 0,
    expiresAt: expiresAtFor(config, descriptor, now),
  };
  const removed = ['returnPayload', 'endedAt', 'destinationStatus', 'progress', 'runnerId', 'logStream', 'taskErrorMessage'] as const;
  const old = await moveTask(config, descriptor.name, taskId, {
    allowed: RETRYABLE_STATUSES,
    action: 'retried',
    returnValues: 'ALL_OLD',
    update: { set: changes, event, remove: removed },
  });
  const next: Record<string, unknown> = { ...old, ...changes, events: [...(old.events ?? []), event] };
  for (const attribute of removed) delete next[attribute];
  const item = next as unknown as TaskItem;
  await startOrUndo(descriptor, item, {
    undo: () => aws.ddb().send(new PutCommand({ TableName: config.table, Item: old, ...sameRequest(requestId) })),
    undoing: 'restoring the task',
    failure: `could not start a new attempt of task '${taskId}' of function '${descriptor.name}'`,
    outcome: 'the task is unchanged, retry it again',
  });
  log('info', 'task retried', { functionName: descriptor.name, taskId, requestId, from: old.status });
  return recordFromItem(item, now);
}

export async function logs(config: ServiceConfig, request: Omit<LogsRequest, 'op'>): Promise<LogsResult> {
  const descriptor = await config.registry.get(request.functionName);
  validateTaskId(request.taskId);
  const { limit, nextToken } = request;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < LOGS_LIMIT.min || limit > LOGS_LIMIT.max)) {
    throw new InvalidArgumentError(
      `limit must be an integer between ${LOGS_LIMIT.min} and ${LOGS_LIMIT.max} inclusive (given ${limit})`,
    );
  }
  if (nextToken !== undefined && (typeof nextToken !== 'string' || nextToken === '')) {
    throw new InvalidArgumentError('nextToken must be the non-empty nextToken of a previous logs call');
  }
  const item = await readItem(config, descriptor.name, request.taskId);
  const record = recordFromItem(item);
  const logGroupName = descriptor.logGroupName;
  if (!logGroupName) return { events: [], status: item.status };
  const toEvents = (events: ReadonlyArray<{ timestamp?: number; message?: string }> | undefined): LogEvent[] =>
    (events ?? []).map((e) => ({ timestamp: e.timestamp ?? 0, message: (e.message ?? '').replace(/\n$/, '') }));
  if (descriptor.kind === 'container') {
    if (!item.logStream) return { events: [], status: item.status };
    const result = await aws.logs().send(
      new GetLogEventsCommand({
        logGroupName,
        logStreamName: item.logStream,
        startFromHead: true,
        limit: limit ?? LOGS_LIMIT.default,
        ...(nextToken ? { nextToken } : {}),
      }),
    );
    const next = result.nextForwardToken;
    return {
      events: toEvents(result.events),
      // The same token coming back means there is nothing more for now.
      ...(next && next !== nextToken ? { nextToken: next } : {}),
      status: item.status,
    };
  }
  const result = await aws.logs().send(
    new FilterLogEventsCommand({
      logGroupName,
      startTime: record.startedTime,
      endTime: (record.endTime ?? Date.now()) + LOGS_END_SLACK_MS,
      ...(item.runnerId ? { filterPattern: `"${item.runnerId}"` } : {}),
      limit: limit ?? LOGS_LIMIT.default,
      ...(nextToken ? { nextToken } : {}),
    }),
  );
  return {
    events: toEvents(result.events),
    ...(result.nextToken ? { nextToken: result.nextToken } : {}),
    status: item.status,
  };
}

export async function functions(config: ServiceConfig): Promise<TaskFunctionSummary[]> {
  return (await config.registry.list()).map((d) => ({
    name: d.name,
    kind: d.kind,
    maxRetryAttempts: d.maxRetryAttempts,
    maxEventAgeSeconds: d.maxEventAgeSeconds,
    timeoutSeconds: d.timeoutSeconds,
    ...(d.maxConcurrency !== undefined ? { maxConcurrency: d.maxConcurrency } : {}),
    ...(d.onSuccess ? { onSuccess: d.onSuccess.arn } : {}),
    ...(d.onFailure ? { onFailure: d.onFailure.arn } : {}),
    stateMachineArn: d.stateMachineArn,
    ...(d.description !== undefined ? { description: d.description } : {}),
  }));
}

/** Dispatches one request; throws model errors (and AWS errors, wrapped by the handler). */
export async function dispatch(config: ServiceConfig, request: unknown): Promise<unknown> {
  if (request === null || typeof request !== 'object' || Array.isArray(request)) {
    throw new InvalidArgumentError(`the request must be a JSON object with an 'op' (given ${JSON.stringify(request) ?? typeof request})`);
  }
  const op = (request as { op?: unknown }).op;
  if (typeof op !== 'string' || !(OPERATIONS as readonly string[]).includes(op)) {
    throw new InvalidArgumentError(`unknown operation ${JSON.stringify(op)}; allowed: ${OPERATIONS.join(', ')}`);
  }
  const r = request as TaskApiRequest;
  switch (r.op) {
    case 'submit':
      return submit(config, r);
    case 'get':
      return get(config, r.functionName, r.taskId);
    case 'stop':
      return stop(config, r.functionName, r.taskId);
    case 'retry':
      return retry(config, r.functionName, r.taskId);
    case 'list':
      return list(config, r);
    case 'logs':
      return logs(config, r);
    case 'functions':
      return functions(config);
  }
}
