/**
 * The task record (what `get` and `list` return, FC 3.0 field names) and its stored form in the
 * tasks table. Stored times are ISO-8601 strings (Step Functions can only write those, from
 * `$$.State.EnteredTime`); the record exposes epoch milliseconds.
 */
import type { TaskCost } from './cost';
import type { TaskStatus } from './statuses';
import { TABLE } from './table';
import type { TaskSource } from './trigger';

export interface TaskEvent {
  readonly status: TaskStatus;
  /** Epoch milliseconds. */
  readonly timestamp: number;
  readonly detail?: string;
  /**
   * Who caused it, on the events a request writes (submit, stop, retry, a trigger's create): the
   * IAM principal ARN of an API Gateway request, `lambda:Invoke` for a direct invoke, or the
   * trigger's source (`kafka:<topic>/<partition>@<first>-<last>`, `sqs:<queue ARN>`); absent on
   * what the state machine, the finalizer and the helper write (lambda/model/audit.ts).
   */
  readonly caller?: string;
}

export interface TaskProgress {
  /** 0–100. */
  readonly percent?: number;
  readonly message?: string;
  /** Epoch milliseconds. */
  readonly updatedTime?: number;
}

export const DestinationStatus = {
  /** The function has no destination for this outcome. */
  None: 'None',
  /** The terminal status is written; the record is being delivered. */
  Pending: 'Pending',
  Succeeded: 'Succeeded',
  Failed: 'Failed',
} as const;
export type DestinationStatus = (typeof DestinationStatus)[keyof typeof DestinationStatus];

export interface TaskRecord {
  readonly taskId: string;
  readonly functionName: string;
  /** Id of the submit or retry call that started the current attempt; also the execution name. */
  readonly requestId: string;
  readonly status: TaskStatus;
  readonly taskPayload: unknown;
  readonly returnPayload?: unknown;
  readonly taskErrorMessage?: string;
  readonly alreadyRetriedTimes: number;
  /** When the task was accepted (submit, or the latest `retry`), epoch ms. */
  readonly startedTime: number;
  /** When it reached a terminal status, epoch ms. */
  readonly endTime?: number;
  /** endTime − startedTime for a finished task, now − startedTime for a live one. */
  readonly durationMs?: number;
  readonly destinationStatus?: DestinationStatus;
  readonly progress?: TaskProgress;
  readonly events: readonly TaskEvent[];
  readonly executionArn?: string;
  /** Lambda request id or ECS task ARN of the latest attempt. */
  readonly runnerId?: string;
  readonly logStream?: string;
  /** Where a trigger took the task from (Kafka topic, partition and offsets; SQS queue and message ids). */
  readonly source?: TaskSource;
  /**
   * Estimated cost of the task so far (lambda/model/cost.ts, docs/cost.md): added by the TaskApi
   * from the record and the function's descriptor, never stored.
   */
  readonly cost?: TaskCost;
}

/**
 * Largest accepted `taskPayload` and `returnPayload`, as UTF-8 JSON text. Both live in one
 * DynamoDB item (400 KB) and travel in the execution input (256 KB); larger inputs go to S3
 * and the payload carries the pointer, as the transcode example does.
 */
export const MAX_PAYLOAD_BYTES = 128 * 1024;

/**
 * Longest stored `taskErrorMessage`, ellipsis included: a container failure's cause is a whole
 * ECS task description, and a Python traceback has no bound either.
 */
export const MAX_ERROR_MESSAGE_CHARS = 4096;
/** Marks a cut error message. */
export const ERROR_MESSAGE_ELLIPSIS = '…';

/** Cuts an error message to MAX_ERROR_MESSAGE_CHARS characters, the last being the ellipsis. */
export function truncateErrorMessage(text: string): string {
  if (text.length <= MAX_ERROR_MESSAGE_CHARS) return text;
  return `${text.slice(0, MAX_ERROR_MESSAGE_CHARS - ERROR_MESSAGE_ELLIPSIS.length)}${ERROR_MESSAGE_ELLIPSIS}`;
}

/** The stored item, as the DynamoDB document client reads and writes it. */
export interface TaskItem {
  readonly functionName: string;
  readonly taskId: string;
  readonly requestId: string;
  readonly status: TaskStatus;
  /** `${functionName}#${status}`: partition key of the ByStatus index. */
  readonly statusKey: string;
  /** `${startedAt}#${taskId}`: sort key of both list indexes (time order, unique). */
  readonly listKey: string;
  /** JSON text. */
  readonly taskPayload: string;
  /** JSON text. */
  readonly returnPayload?: string;
  readonly taskErrorMessage?: string;
  readonly alreadyRetriedTimes: number;
  /** ISO-8601. */
  readonly startedAt: string;
  readonly endedAt?: string;
  /** ISO-8601: an attempt that has not started by then is Expired (maxEventAge). */
  readonly deadline: string;
  readonly destinationStatus?: DestinationStatus;
  readonly progress?: { readonly percent?: number; readonly message?: string; readonly updatedAt?: string };
  readonly events: ReadonlyArray<{
    readonly status: TaskStatus;
    readonly at: string;
    readonly detail?: string;
    /** Who caused it (TaskEvent `caller`). */
    readonly caller?: string;
  }>;
  readonly executionArn?: string;
  readonly runnerId?: string;
  readonly logStream?: string;
  /**
   * While a finalizer delivers the failure record of a terminal task: `<ISO time>#<random>`.
   * Only the writer of the claim sends (lambda/lib/task-writes.ts); never part of the API record.
   */
  readonly deliveryClaim?: string;
  /** Epoch seconds: DynamoDB TTL (retention). */
  readonly expiresAt: number;
  /** Lineage of a task a trigger created (a map); absent for tasks submitted through TaskApi. */
  readonly source?: TaskSource;
}

/**
 * Names of the stored item's attributes, for writers that cannot use the TaskItem type (the
 * Python runtime helper, through the contract) and for update expressions. The compiler checks
 * every name against TaskItem, so a renamed attribute cannot leave a stale copy here.
 */
export const ITEM_ATTRIBUTE = {
  functionName: 'functionName',
  taskId: 'taskId',
  requestId: 'requestId',
  status: 'status',
  statusKey: 'statusKey',
  listKey: 'listKey',
  taskPayload: 'taskPayload',
  returnPayload: 'returnPayload',
  taskErrorMessage: 'taskErrorMessage',
  alreadyRetriedTimes: 'alreadyRetriedTimes',
  startedAt: 'startedAt',
  endedAt: 'endedAt',
  deadline: 'deadline',
  destinationStatus: 'destinationStatus',
  progress: 'progress',
  events: 'events',
  executionArn: 'executionArn',
  runnerId: 'runnerId',
  logStream: 'logStream',
  deliveryClaim: 'deliveryClaim',
  expiresAt: 'expiresAt',
  source: 'source',
} as const satisfies { readonly [K in keyof TaskItem]-?: K };

/** Fields of one entry of the item's `events` list. */
export const EVENT_ATTRIBUTE = {
  status: 'status',
  at: 'at',
  detail: 'detail',
  caller: 'caller',
} as const satisfies { readonly [K in keyof TaskItem['events'][number]]-?: K };

/** Fields of the item's `progress` map. */
export const PROGRESS_ATTRIBUTE = {
  percent: 'percent',
  message: 'message',
  updatedAt: 'updatedAt',
} as const satisfies { readonly [K in keyof NonNullable<TaskItem['progress']>]-?: K };

export function statusKey(functionName: string, status: TaskStatus): string {
  return `${functionName}${TABLE.separator}${status}`;
}

export function listKey(startedAt: string, taskId: string): string {
  return `${startedAt}${TABLE.separator}${taskId}`;
}

function ms(iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const value = Date.parse(iso);
  return Number.isNaN(value) ? undefined : value;
}

function parseJsonText(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Stored item → API record. `now` gives a live task's running duration. */
export function recordFromItem(item: TaskItem, now: number = Date.now()): TaskRecord {
  const startedTime = ms(item.startedAt) ?? 0;
  const endTime = ms(item.endedAt);
  const progress = item.progress
    ? {
        ...(item.progress.percent !== undefined ? { percent: Number(item.progress.percent) } : {}),
        ...(item.progress.message !== undefined ? { message: item.progress.message } : {}),
        ...(item.progress.updatedAt !== undefined ? { updatedTime: ms(item.progress.updatedAt) } : {}),
      }
    : undefined;
  return {
    taskId: item.taskId,
    functionName: item.functionName,
    requestId: item.requestId,
    status: item.status,
    taskPayload: parseJsonText(item.taskPayload),
    ...(item.returnPayload !== undefined ? { returnPayload: parseJsonText(item.returnPayload) } : {}),
    ...(item.taskErrorMessage !== undefined ? { taskErrorMessage: item.taskErrorMessage } : {}),
    alreadyRetriedTimes: Number(item.alreadyRetriedTimes ?? 0),
    startedTime,
    ...(endTime !== undefined ? { endTime } : {}),
    durationMs: Math.max(0, (endTime ?? now) - startedTime),
    ...(item.destinationStatus !== undefined ? { destinationStatus: item.destinationStatus } : {}),
    ...(progress ? { progress } : {}),
    events: (item.events ?? []).map((e) => ({
      status: e.status,
      timestamp: ms(e.at) ?? 0,
      ...(e.detail !== undefined ? { detail: e.detail } : {}),
      ...(e.caller !== undefined ? { caller: e.caller } : {}),
    })),
    ...(item.executionArn !== undefined ? { executionArn: item.executionArn } : {}),
    ...(item.runnerId !== undefined ? { runnerId: item.runnerId } : {}),
    ...(item.logStream !== undefined ? { logStream: item.logStream } : {}),
    ...(item.source !== undefined ? { source: item.source } : {}),
  };
}
