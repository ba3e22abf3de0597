/**
 * The task record (what `get` and `list` return, FC 3.0 field names) and its stored form in the
 * tasks table. Stored times are ISO-8601 strings (Step Functions can only write those, from
 * `$$.State.EnteredTime`); the record exposes epoch milliseconds.
 */
import { InvalidPayloadError } from './errors';
import type { TaskStatus } from './statuses';
import { TABLE } from './table';

export interface TaskEvent {
  readonly status: TaskStatus;
  /** Epoch milliseconds. */
  readonly timestamp: number;
  readonly detail?: string;
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
}

/**
 * Largest accepted `taskPayload` and `returnPayload`, as UTF-8 JSON text. Both live in one
 * DynamoDB item (400 KB) and travel in the execution input (256 KB); larger inputs go to S3
 * and the payload carries the pointer, as the transcode example does.
 */
export const MAX_PAYLOAD_BYTES = 128 * 1024;

/** Serializes a payload for storage, rejecting what is not JSON or is over the limit. */
export function encodePayload(payload: unknown, what = 'payload'): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(payload);
  } catch (error) {
    throw new InvalidPayloadError(`${what} is not JSON-serializable: ${(error as Error).message}`, { cause: error });
  }
  if (text === undefined) {
    throw new InvalidPayloadError(`${what} is not JSON-serializable (given ${typeof payload})`);
  }
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_PAYLOAD_BYTES) {
    throw new InvalidPayloadError(
      `${what} is ${bytes} bytes of JSON; the limit is ${MAX_PAYLOAD_BYTES} bytes (128 KiB) — put larger inputs in S3 and pass their location`,
      { details: { bytes, limit: MAX_PAYLOAD_BYTES } },
    );
  }
  return text;
}

/** Parses a JSON text payload (from the CLI or a trigger), naming the limit and the parse error. */
export function parsePayloadText(text: string, what = 'payload'): unknown {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_PAYLOAD_BYTES) {
    throw new InvalidPayloadError(
      `${what} is ${bytes} bytes; the limit is ${MAX_PAYLOAD_BYTES} bytes (128 KiB) — put larger inputs in S3 and pass their location`,
      { details: { bytes, limit: MAX_PAYLOAD_BYTES } },
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    const shown = text.length > 60 ? `${text.slice(0, 60)}…` : text;
    throw new InvalidPayloadError(`${what} is not valid JSON (${(error as Error).message}); given '${shown}'`, {
      cause: error,
    });
  }
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
  readonly events: ReadonlyArray<{ readonly status: TaskStatus; readonly at: string; readonly detail?: string }>;
  readonly executionArn?: string;
  readonly runnerId?: string;
  readonly logStream?: string;
  /** Epoch seconds: DynamoDB TTL (retention). */
  readonly expiresAt: number;
}

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
    })),
    ...(item.executionArn !== undefined ? { executionArn: item.executionArn } : {}),
    ...(item.runnerId !== undefined ? { runnerId: item.runnerId } : {}),
    ...(item.logStream !== undefined ? { logStream: item.logStream } : {}),
  };
}
