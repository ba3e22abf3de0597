/**
 * TaskApi operations (docs/design.md, "TaskApi"): submit, get, list, stop, retry, logs, exec, functions, stats.
 * Each validates its input, throws errors of the model's hierarchy, and logs one structured line
 * naming the function and the task. The handler turns whatever is thrown into a wire error.
 */
import { randomUUID } from 'node:crypto';
import { FilterLogEventsCommand, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { StopExecutionCommand } from '@aws-sdk/client-sfn';
import {
  ACTIVE_STATUSES,
  ALL_STATUSES,
  CONTAINER_NAME,
  ConcurrentModificationError,
  ECONOMY_ITEM,
  economyActiveBoundMs,
  economyInvocationId,
  isEconomyOwner,
  type ExecResult,
  executionArn,
  executionName,
  generateTaskId,
  InvalidArgumentError,
  InvalidTaskStateError,
  isoTime,
  isRangeMarker,
  isTerminal,
  type KafkaRangeMarker,
  type ListRequest,
  type ListResult,
  type LogEvent,
  type LogsRequest,
  type LogsResult,
  listKey,
  OPERATIONS,
  recordFromItem,
  STATS_MAX_DURATION_SAMPLES,
  ServiceError,
  estimateTaskCost,
  type StatsRequest,
  type SubmitRequest,
  statsWindow,
  statusKey,
  TaskAlreadyExistsError,
  type TaskApiRequest,
  type TaskFunctionDescriptor,
  type TaskFunctionSummary,
  type TaskItem,
  TaskNotFoundError,
  type TaskRecord,
  type TaskStatus,
  type TaskStats,
  TaskStatus as Status,
  TERMINAL_STATUSES,
  TRANSITIONS,
  validateListRequest,
  validateNewTaskId,
  validateTaskId,
} from '../model';
import { type Attempt, attemptsOf } from './attempts';
import { aws, type ServiceConfig } from './env';
import { describeEnd } from './executions';
import { finalizeTask, STOPPED_ERROR } from './finalize';
import { economyItemsIn, isMergedListToken, listEconomyFunction, requestRange } from './list-economy';
import { encodeNextToken, indexKeyOf, listKeyRange, parseNextToken, planList } from './list-plan';
import { appendTaskKeys, logger } from './logger';
import { createTask, expiresAtFor, startOrUndo } from './submit';
import { storedEvent, type TaskRef, TaskStore, type TransitionOptions } from './task-store';
import { DELIVERY_CLAIM } from './task-writes';

/**
 * What the handler knows about a request besides its fields: who made it. `caller` is recorded on
 * the events the request writes (submit, stop, retry): the IAM principal of an API Gateway
 * request, `lambda:Invoke` (model DIRECT_INVOKE_CALLER) for a direct invoke.
 */
export interface RequestContext {
  readonly caller: string;
}

/** Query pages read at most per `list` call when filters leave pages sparse. */
export const LIST_MAX_PAGES = 10;
/** Items read per Query page when a filter applies (Limit counts before filtering). */
export const LIST_FILTERED_PAGE_SIZE = 100;
/** Bounds of `logs` `limit` (GetLogEvents / FilterLogEvents accept up to 10,000). */
export const LOGS_LIMIT = { min: 1, max: 10_000, default: 100 } as const;
/** FilterLogEvents window after a Lambda task's end: the platform's REPORT line comes a little later. */
export const LOGS_END_SLACK_MS = 60_000;

function taskNotFound(functionName: string, taskId: string): TaskNotFoundError {
  return new TaskNotFoundError(`task '${taskId}' of function '${functionName}' not found`, {
    details: { functionName, taskId },
  });
}

/**
 * The record with its cost estimate (lambda/model/cost.ts): from the item and the descriptor the
 * operation has already read, priced for the TaskApi's region. No read of its own.
 */
export function recordWithCost(
  item: TaskItem,
  descriptor: TaskFunctionDescriptor,
  now: number = Date.now(),
  region: string | undefined = process.env.AWS_REGION,
): TaskRecord {
  const record = recordFromItem(item, now);
  try {
    // The item's own mode (a task in flight keeps the one it started with), not the descriptor's.
    const input = item.orchestration === 'economy' ? { ...record, orchestration: item.orchestration } : record;
    return { ...record, cost: estimateTaskCost(input, descriptor, region, now) };
  } catch (error) {
    // An estimate is never worth failing the operation: the record goes back without it.
    logger.warn('cost estimate failed; record returned without it', { error });
    return record;
  }
}

function listStatuses(statuses: readonly TaskStatus[]): string {
  return statuses.length <= 1 ? statuses.join('') : `${statuses.slice(0, -1).join(', ')} or ${statuses[statuses.length - 1]}`;
}

async function readItem(store: TaskStore, functionName: string, taskId: string): Promise<TaskItem> {
  const item = await store.read({ functionName, taskId });
  if (!item) throw taskNotFound(functionName, taskId);
  if (isRangeMarker(item)) throw notATask(item);
  return item;
}

/** A trigger's range marker holds the id: it is not a task, and the id cannot be submitted. */
function notATask(marker: KafkaRangeMarker): TaskNotFoundError {
  const { topic, partition, firstOffset, lastOffset } = marker.source;
  return new TaskNotFoundError(
    `'${marker.taskId}' of function '${marker.functionName}' is not a task: it records ${marker.quarantined} Kafka record(s) of ${topic}/${partition} offsets ${firstOffset}–${lastOffset} that a trigger quarantined; task ids starting with 'k_' or 's_' are the triggers'`,
    { details: { functionName: marker.functionName, taskId: marker.taskId, source: marker.source } },
  );
}

export async function submit(
  config: ServiceConfig,
  request: SubmitRequest,
  context: RequestContext,
  now: number = Date.now(),
): Promise<TaskRecord> {
  // The id before the registry: a bad id is refused without reading anything.
  const taskId = request.taskId === undefined ? generateTaskId() : validateNewTaskId(request.taskId);
  const descriptor = await config.registry.get(request.functionName);
  appendTaskKeys({ functionName: descriptor.name, taskId });
  const outcome = await createTask(config, descriptor, { taskId, payload: request.payload, caller: context.caller }, now);
  if (!outcome.created) {
    const existing = outcome.existing;
    if (!existing) {
      throw new ServiceError(`task '${taskId}' of function '${descriptor.name}' was being written concurrently; submit it again`);
    }
    if (isRangeMarker(existing)) throw notATask(existing);
    logger.info('submit rejected: duplicate task id', { status: existing.status });
    throw new TaskAlreadyExistsError(
      `task '${taskId}' of function '${descriptor.name}' already exists (status ${existing.status}, requestId ${existing.requestId}); a task id stays reserved while its record is kept`,
      recordWithCost(existing, descriptor, now),
    );
  }
  return recordWithCost(outcome.item, descriptor, now);
}

export async function get(config: ServiceConfig, functionName: string, taskId: string): Promise<TaskRecord> {
  validateTaskId(taskId);
  const descriptor = await config.registry.get(functionName);
  return recordWithCost(await readItem(new TaskStore(config.table), descriptor.name, taskId), descriptor);
}

/**
 * Whether `list` reads the economy index too: for an economy function, for a merged list's next
 * page, and for a standard function with economy tasks (from before a switch back) in the window
 * — one keys-only Query of at most one key tells.
 */
async function mergesEconomyTasks(
  store: TaskStore,
  descriptor: TaskFunctionDescriptor,
  request: Omit<ListRequest, 'op'>,
): Promise<boolean> {
  if (descriptor.orchestration === 'economy') return true;
  if (request.nextToken !== undefined) return isMergedListToken(request.nextToken);
  return store.hasEconomyTasks(descriptor.name, requestRange(request));
}

export async function list(config: ServiceConfig, request: Omit<ListRequest, 'op'>): Promise<ListResult> {
  const descriptor = await config.registry.get(request.functionName);
  validateListRequest({ ...request, functionName: descriptor.name });
  const store = new TaskStore(config.table);
  // Economy tasks are in ByTimeEconomy only: an economy function's list merges it with ByTime /
  // ByStatus (its standard tasks from before a switch), and so does a standard function's while
  // economy tasks from before a switch back are in the window.
  if (await mergesEconomyTasks(store, descriptor, request)) {
    return listEconomyFunction(store, { ...request, functionName: descriptor.name }, (item, now) => recordWithCost(item, descriptor, now));
  }
  const plan = planList({ ...request, functionName: descriptor.name });
  const tasks: TaskItem[] = [];
  let startKey: Record<string, unknown> | undefined = plan.exclusiveStartKey;
  let nextToken: string | undefined;
  for (let page = 0; ; page++) {
    const wanted = plan.limit - tasks.length;
    let result: Awaited<ReturnType<TaskStore['queryList']>>;
    try {
      // Unfiltered: read one more than needed to know whether a next page exists.
      result = await store.queryList(plan, startKey, plan.filtered ? LIST_FILTERED_PAGE_SIZE : wanted + 1);
    } catch (error) {
      if (startKey && (error as { name?: string }).name === 'ValidationException') {
        throw new InvalidArgumentError('nextToken is not valid for this list request (DynamoDB rejected the start key)', {
          cause: error,
        });
      }
      throw error;
    }
    const items = result.items;
    const taken = items.slice(0, wanted);
    tasks.push(...taken);
    if (tasks.length >= plan.limit) {
      if (items.length > taken.length || result.lastKey) {
        nextToken = encodeNextToken(indexKeyOf(tasks[tasks.length - 1], plan));
      }
      break;
    }
    if (!result.lastKey) break;
    startKey = result.lastKey;
    if (page + 1 >= LIST_MAX_PAGES) {
      // Sparse matches: hand back where the reading stopped, so the caller continues from there.
      nextToken = encodeNextToken(indexKeyOf(result.lastKey as unknown as TaskItem, plan));
      break;
    }
  }
  const now = Date.now();
  return { tasks: tasks.map((item) => recordWithCost(item, descriptor, now)), ...(nextToken ? { nextToken } : {}) };
}

function invalidState(taskId: string, status: TaskStatus, allowed: readonly TaskStatus[], action: string): InvalidTaskStateError {
  // A terminal task is over: say so, so that a stop arriving after the task's end reads as such.
  const state = action === 'stopped' && isTerminal(status) ? `has ended (${status})` : `is ${status}`;
  return new InvalidTaskStateError(`task '${taskId}' ${state}; only ${listStatuses(allowed)} tasks can be ${action}`, {
    details: { taskId, status, allowed },
  });
}

/**
 * A conditional status write on the user's behalf (stop, retry), from the statuses TRANSITIONS
 * allows. A refusal becomes TaskNotFound, InvalidTaskState (naming the status), or, when the
 * task is in an allowed status again by the time we look, ConcurrentModification.
 */
async function moveTask(store: TaskStore, ref: TaskRef, to: TaskStatus, action: string, options: TransitionOptions): Promise<TaskItem> {
  const written = await store.transition(ref, to, options);
  if (written.ok) return written.item;
  const existing = written.current;
  const allowed = TRANSITIONS[to];
  if (!existing) throw taskNotFound(ref.functionName, ref.taskId);
  if (allowed.includes(existing.status)) {
    throw new ConcurrentModificationError(
      `task '${ref.taskId}' changed while it was being ${action} (now ${existing.status}); read it and try again`,
      { details: { taskId: ref.taskId, status: existing.status } },
    );
  }
  throw invalidState(ref.taskId, existing.status, allowed, action);
}

export async function stop(config: ServiceConfig, functionName: string, taskId: string, context: RequestContext): Promise<TaskRecord> {
  validateTaskId(taskId);
  const descriptor = await config.registry.get(functionName);
  const store = new TaskStore(config.table);
  const ref = { functionName: descriptor.name, taskId };
  // From TRANSITIONS.Stopping (the active statuses): once the terminal status is written — the
  // state machine's MarkSucceeded, the finalizer — the task has ended and the stop is refused.
  const stopping = await moveTask(store, ref, Status.Stopping, 'stopped', {
    event: storedEvent(Status.Stopping, isoTime(), 'stop requested', context.caller),
  });
  logger.info('task stopping', { executionArn: stopping.executionArn });
  if (isEconomyOwner(stopping.executionArn)) {
    // Economy: no execution to stop, and a running attempt cannot be interrupted. With no
    // attempt running (the status before was Enqueued or Retrying) the task ends now: its queued
    // invocation will find it stopped and not run the work. A running attempt ends it itself —
    // its wrapper hands the ending to the finalizer (docs/design.md, "Orchestration modes").
    const before = stopping.events.at(-2)?.status;
    if (before === Status.Running) return recordWithCost(stopping, descriptor);
    const result = await finalizeTask(config, ref, { executionArn: stopping.executionArn ?? '', status: 'ABORTED' });
    return recordWithCost(result.item ?? stopping, descriptor);
  }
  if (!stopping.executionArn) {
    const result = await finalizeTask(config, ref, { executionArn: '', status: 'MISSING' });
    return recordWithCost(result.item ?? stopping, descriptor);
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
      logger.error('StopExecution failed', { error });
      throw new ServiceError(
        `task '${taskId}' is Stopping but its execution could not be stopped (${(error as Error).name}: ${(error as Error).message}); stop it again`,
        { cause: error },
      );
    }
    logger.info('execution had already ended; finalizing the task now', { executionStatus: ended.status });
    const result = await finalizeTask(config, ref, ended);
    return recordWithCost(result.item ?? stopping, descriptor);
  }
  return recordWithCost(stopping, descriptor);
}

/** Attributes of the previous attempt that a retry removes: the record describes the new attempt. */
const RETRY_REMOVES = [
  'returnPayload',
  'endedAt',
  'destinationStatus',
  DELIVERY_CLAIM,
  'progress',
  'runnerId',
  'logStream',
  'taskErrorMessage',
] as const;

export async function retry(
  config: ServiceConfig,
  functionName: string,
  taskId: string,
  context: RequestContext,
  now: number = Date.now(),
): Promise<TaskRecord> {
  validateTaskId(taskId);
  const descriptor = await config.registry.get(functionName);
  const store = new TaskStore(config.table);
  const requestId = randomUUID();
  const startedAt = isoTime(now);
  const event = storedEvent(Status.Enqueued, startedAt, 'retry requested', context.caller);
  // The new attempt runs under the function's current mode, whatever the old one's was; the
  // item's layout follows (docs/design.md, "Orchestration modes").
  const economy = descriptor.orchestration === 'economy';
  const common = {
    requestId,
    deadline: isoTime(now + descriptor.maxEventAgeSeconds * 1000),
    startedAt,
    alreadyRetriedTimes: 0,
    expiresAt: expiresAtFor(config, descriptor, now),
  };
  const changes: Record<string, unknown> = economy
    ? {
        ...common,
        executionArn: economyInvocationId(descriptor.runnerArn, requestId),
        [ECONOMY_ITEM.orchestration]: 'economy',
        [ECONOMY_ITEM.economyKey]: descriptor.name,
        [ECONOMY_ITEM.economyListKey]: listKey(startedAt, taskId),
      }
    : { ...common, executionArn: executionArn(descriptor.stateMachineArn, executionName(requestId)), listKey: listKey(startedAt, taskId) };
  const layoutRemoves = economy
    ? ['listKey', 'statusKey']
    : [ECONOMY_ITEM.orchestration, ECONOMY_ITEM.economyKey, ECONOMY_ITEM.economyListKey];
  // From TRANSITIONS.Enqueued (Failed, Stopped, Expired); ALL_OLD: the undo puts it back as it was.
  const old = await moveTask(store, { functionName: descriptor.name, taskId }, Status.Enqueued, 'retried', {
    set: changes,
    remove: [...RETRY_REMOVES, ...layoutRemoves],
    event,
    returnValues: 'ALL_OLD',
    layout: economy ? 'economy' : 'standard',
  });
  const next: Record<string, unknown> = {
    ...old,
    ...changes,
    status: Status.Enqueued,
    ...(economy ? {} : { statusKey: statusKey(descriptor.name, Status.Enqueued) }),
    events: [...(old.events ?? []), event],
  };
  for (const attribute of [...RETRY_REMOVES, ...layoutRemoves]) delete next[attribute];
  const item = next as unknown as TaskItem;
  await startOrUndo(config, descriptor, item, {
    undo: () => store.restoreIfRequest(old, requestId),
    undoing: 'restoring the task',
    failure: `could not start a new attempt of task '${taskId}' of function '${descriptor.name}'`,
    outcome: 'the task is unchanged, retry it again',
  });
  logger.info('task retried', { requestId, from: old.status });
  return recordWithCost(item, descriptor, now);
}

/** A `logs` nextToken: the attempt being read and, within it, the CloudWatch Logs token. */
interface LogsCursor {
  readonly a: number;
  readonly t?: string;
}

function decodeCursor(token: string): LogsCursor {
  const c = parseNextToken(token) as Partial<LogsCursor> | undefined;
  if (!c || typeof c !== 'object' || !Number.isInteger(c.a) || (c.a as number) < 1 || (c.t !== undefined && typeof c.t !== 'string')) {
    throw new InvalidArgumentError(`nextToken '${token}' is not a nextToken of a previous logs call`);
  }
  return c as LogsCursor;
}

/** One page of one attempt's log lines: CloudWatch Logs' token back when it advanced. */
async function attemptPage(
  logGroupName: string,
  kind: string,
  attempt: Attempt,
  limit: number,
  token: string | undefined,
  nextStartedTime: number | undefined,
): Promise<{ events: LogEvent[]; next?: string }> {
  const toEvents = (events: ReadonlyArray<{ timestamp?: number; message?: string }> | undefined): LogEvent[] =>
    (events ?? []).map((e) => ({ timestamp: e.timestamp ?? 0, message: (e.message ?? '').replace(/\n$/, ''), attempt: attempt.n }));
  if (kind === 'container') {
    if (!attempt.logStream) return { events: [] };
    const result = await aws.logs().send(
      new GetLogEventsCommand({
        logGroupName,
        logStreamName: attempt.logStream,
        startFromHead: true,
        limit,
        ...(token ? { nextToken: token } : {}),
      }),
    );
    const next = result.nextForwardToken;
    // The same token coming back means there is nothing more for now.
    return { events: toEvents(result.events), ...(next && next !== token ? { next } : {}) };
  }
  // Lambda: the attempt's window, narrowed to its request id when the history names it (a
  // failed invoke's error names it only from some runtimes; then the window alone, which must
  // stop where the next attempt starts).
  let endTime = (attempt.endTime ?? Date.now()) + LOGS_END_SLACK_MS;
  if (!attempt.runnerId && nextStartedTime !== undefined) endTime = Math.min(endTime, nextStartedTime - 1);
  const result = await aws.logs().send(
    new FilterLogEventsCommand({
      logGroupName,
      startTime: attempt.startedTime,
      endTime,
      ...(attempt.runnerId ? { filterPattern: `"${attempt.runnerId}"` } : {}),
      limit,
      ...(token ? { nextToken: token } : {}),
    }),
  );
  return { events: toEvents(result.events), ...(result.nextToken ? { next: result.nextToken } : {}) };
}

/**
 * The task's log lines, attempt by attempt (lambda/lib/attempts.ts), or of one `attempt`. A
 * page holds lines of one attempt; its nextToken moves on within the attempt, then to the next.
 * No nextToken: nothing more for now (call again with the same token while the task runs).
 */
export async function logs(config: ServiceConfig, request: Omit<LogsRequest, 'op'>): Promise<LogsResult> {
  validateTaskId(request.taskId);
  const descriptor = await config.registry.get(request.functionName);
  const { limit, nextToken, attempt } = request;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < LOGS_LIMIT.min || limit > LOGS_LIMIT.max)) {
    throw new InvalidArgumentError(`limit must be an integer between ${LOGS_LIMIT.min} and ${LOGS_LIMIT.max} inclusive (given ${limit})`);
  }
  if (nextToken !== undefined && (typeof nextToken !== 'string' || nextToken === '')) {
    throw new InvalidArgumentError('nextToken must be the non-empty nextToken of a previous logs call');
  }
  if (attempt !== undefined && (!Number.isInteger(attempt) || attempt < 1)) {
    throw new InvalidArgumentError(`attempt must be an integer of 1 or more (given ${JSON.stringify(attempt)})`);
  }
  const cursor = nextToken !== undefined ? decodeCursor(nextToken) : undefined;
  const item = await readItem(new TaskStore(config.table), descriptor.name, request.taskId);
  const attempts = await attemptsOf(item, { container: CONTAINER_NAME, logStreamPrefix: descriptor.logStreamPrefix });
  if (attempt !== undefined && attempt > attempts.length) {
    throw new InvalidArgumentError(
      attempts.length === 0
        ? `attempt ${attempt} of task '${request.taskId}' does not exist: the task (${item.status}) has had no attempt yet`
        : `attempt must be an integer between 1 and ${attempts.length} inclusive: task '${request.taskId}' has had ${attempts.length} attempt(s) (given ${attempt})`,
      { details: { taskId: request.taskId, attempt, attempts: attempts.length } },
    );
  }
  if (cursor && attempt !== undefined && cursor.a !== attempt) {
    throw new InvalidArgumentError(`nextToken is of attempt ${cursor.a}, not of the attempt asked for (${attempt})`);
  }
  const n = cursor?.a ?? attempt ?? 1;
  const current = attempts[n - 1];
  const base = { status: item.status, attempts: attempts.length };
  if (!descriptor.logGroupName || !current) return { events: [], ...base };
  const page = await attemptPage(
    descriptor.logGroupName,
    descriptor.kind,
    current,
    limit ?? LOGS_LIMIT.default,
    cursor?.t,
    attempts[n]?.startedTime,
  );
  let next: LogsCursor | undefined;
  if (page.next !== undefined) next = { a: n, t: page.next };
  else if (attempt === undefined && n < attempts.length) next = { a: n + 1 };
  return { events: page.events, ...(next ? { nextToken: encodeNextToken(next) } : {}), ...base, attempt: n };
}

/**
 * Where `asynctask exec` runs a command: the running container attempt's cluster, ECS task ARN
 * and container. The task must be Running (the helper wrote Running with the task ARN).
 */
export async function exec(config: ServiceConfig, functionName: string, taskId: string): Promise<ExecResult> {
  validateTaskId(taskId);
  const descriptor = await config.registry.get(functionName);
  if (descriptor.kind !== 'container') {
    throw new InvalidArgumentError(
      `function '${descriptor.name}' is a ${descriptor.kind} task function; exec needs a Running container task (Lambda gives no shell into an invocation)`,
      { details: { functionName: descriptor.name, kind: descriptor.kind } },
    );
  }
  const item = await readItem(new TaskStore(config.table), descriptor.name, taskId);
  const taskArn = item.runnerId;
  if (item.status !== Status.Running || !taskArn) {
    throw new InvalidTaskStateError(`task '${taskId}' is ${item.status}; exec needs a Running container task`, {
      details: { taskId, status: item.status, allowed: [Status.Running] },
    });
  }
  // arn:aws:ecs:<region>:<account>:task/<cluster>/<id>
  const match = /^arn:[^:]+:ecs:[^:]*:[^:]*:task\/([^/]+)\/[^/]+$/.exec(taskArn);
  if (!match) {
    throw new ServiceError(
      `task '${taskId}' records runner '${taskArn}', which is not an ECS task ARN of the form arn:aws:ecs:<region>:<account>:task/<cluster>/<id>`,
    );
  }
  logger.info('exec target', { taskArn });
  return { cluster: match[1], taskArn, container: CONTAINER_NAME, attempt: Number(item.alreadyRetriedTimes ?? 0) + 1 };
}

export async function functions(config: ServiceConfig): Promise<TaskFunctionSummary[]> {
  return (await config.registry.list()).map((d) => ({
    name: d.name,
    kind: d.kind,
    maxRetryAttempts: d.maxRetryAttempts,
    maxEventAgeSeconds: d.maxEventAgeSeconds,
    timeoutSeconds: d.timeoutSeconds,
    ...(d.maxConcurrency !== undefined ? { maxConcurrency: d.maxConcurrency } : {}),
    ...(d.orchestration === 'economy' ? { orchestration: 'economy' as const } : {}),
    ...(d.onSuccess ? { onSuccess: d.onSuccess.arn } : {}),
    ...(d.onFailure ? { onFailure: d.onFailure.arn } : {}),
    stateMachineArn: d.stateMachineArn,
    ...(d.description !== undefined ? { description: d.description } : {}),
    runnerArn: d.runnerArn,
    ...(d.onSuccess ? { onSuccessDestination: d.onSuccess } : {}),
    ...(d.onFailure ? { onFailureDestination: d.onFailure } : {}),
    ...(d.logGroupName !== undefined ? { logGroupName: d.logGroupName } : {}),
    ...(d.triggers !== undefined && d.triggers.length > 0 ? { triggers: d.triggers } : {}),
  }));
}

/** Nearest-rank percentile of ascending `sorted` (non-empty), `p` in (0, 1]. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
}

/**
 * Counts by status over a startedTime window, what runs now, the success rate and duration
 * percentiles: every number from Query, never Scan — a `Select: 'COUNT'` per status on the
 * ByStatus index (BETWEEN on listKey for the window), the same without the window for what is
 * active now, and one ByTime query of the window reading only status, start and end.
 */
export async function stats(config: ServiceConfig, request: Omit<StatsRequest, 'op'>, now: number = Date.now()): Promise<TaskStats> {
  const descriptor = await config.registry.get(request.functionName);
  const { since, until } = statsWindow(request, now);
  const store = new TaskStore(config.table);
  const window = listKeyRange(since, until);
  const [inWindow, activeCounts, times] = await Promise.all([
    Promise.all(ALL_STATUSES.map((status) => store.countByStatus(descriptor.name, status, window))),
    Promise.all(ACTIVE_STATUSES.map((status) => store.countByStatus(descriptor.name, status))),
    store.taskTimes(descriptor.name, window, TERMINAL_STATUSES, STATS_MAX_DURATION_SAMPLES),
  ]);
  const counts = Object.fromEntries(ALL_STATUSES.map((status, i) => [status, inWindow[i]])) as Record<TaskStatus, number>;
  // Economy tasks are in no ByStatus: counted by reading them from ByTimeEconomy (the window's;
  // the active ones can only have started within their bound, after which the reconciler ends
  // them) — for a standard function too, whose economy tasks from before a switch back are there
  // (none: one empty Query each).
  const [economy, recent] = await Promise.all([
    economyItemsIn(store, descriptor.name, window, STATS_MAX_DURATION_SAMPLES),
    economyItemsIn(store, descriptor.name, listKeyRange(now - economyActiveBoundMs(descriptor), now), STATS_MAX_DURATION_SAMPLES),
  ]);
  for (const item of economy.items) counts[item.status] += 1;
  for (const item of recent.items) {
    const at = (ACTIVE_STATUSES as readonly string[]).indexOf(item.status);
    if (at >= 0) activeCounts[at] += 1;
  }
  const economyTimes = economy.items.filter((item) => (TERMINAL_STATUSES as readonly string[]).includes(item.status));
  const total = ALL_STATUSES.reduce((sum, status) => sum + counts[status], 0);
  const terminal = TERMINAL_STATUSES.reduce((sum, status) => sum + counts[status], 0);
  const durations = [...times.items, ...economyTimes]
    .filter((t) => t.endedAt !== undefined)
    .map((t) => Date.parse(t.endedAt as string) - Date.parse(t.startedAt))
    .filter((ms) => Number.isFinite(ms) && ms >= 0)
    .sort((a, b) => a - b);
  logger.info('stats', { since, until, total, terminal, samples: durations.length });
  return {
    functionName: descriptor.name,
    since,
    until,
    counts,
    total,
    runningNow: activeCounts[ACTIVE_STATUSES.indexOf(Status.Running)],
    activeNow: activeCounts.reduce((sum, n) => sum + n, 0),
    ...(terminal > 0 ? { successRate: counts.Succeeded / terminal } : {}),
    ...(durations.length > 0
      ? {
          durationMs: {
            p50: percentile(durations, 0.5),
            p95: percentile(durations, 0.95),
            samples: durations.length,
            // The standard counts say whether ByTime's unread pages held terminal tasks at all;
            // unread economy tasks are not counted anywhere, so more of them means sampled.
            sampled: (times.more && terminal > times.items.length + economyTimes.length) || economy.more,
          },
        }
      : {}),
    ...(economy.more || recent.more ? { countsAreLowerBounds: true } : {}),
  };
}

/**
 * Dispatches one request, the same whichever way it came (a direct invoke's `{op, ...}` or an API
 * Gateway request mapped by model `requestFromHttp`); `context.caller` is recorded on the events
 * it writes. A `caller` field in the request itself is ignored: only the handler says who called.
 * Throws model errors (and AWS errors, wrapped by the handler).
 */
export async function dispatch(config: ServiceConfig, request: unknown, context: RequestContext): Promise<unknown> {
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
      return submit(config, r, context);
    case 'get':
      return get(config, r.functionName, r.taskId);
    case 'stop':
      return stop(config, r.functionName, r.taskId, context);
    case 'retry':
      return retry(config, r.functionName, r.taskId, context);
    case 'list':
      return list(config, r);
    case 'logs':
      return logs(config, r);
    case 'exec':
      return exec(config, r.functionName, r.taskId);
    case 'functions':
      return functions(config);
    case 'stats':
      return stats(config, r);
  }
}
