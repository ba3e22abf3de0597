/**
 * TaskApi wire contract: one Lambda invoked with `lambda:Invoke`, JSON in and out.
 * Request `{ op, ... }`; response `{ ok: true, result }` or `{ ok: false, error: WireError }`.
 * The SDK (client/) and the handler (lambda/handlers/task-api.ts) both use these types.
 */
import type { DestinationTarget } from './destination';
import { InvalidArgumentError, type WireError } from './errors';
import type { TaskRecord } from './record';
import type { TaskFunctionKind } from './registry';
import { ALL_STATUSES, isTaskStatus, type TaskStatus } from './statuses';
import type { TriggerSummary } from './trigger';

export const LIST_LIMIT = { min: 1, max: 100, default: 20 } as const;
export type SortOrder = 'asc' | 'desc';

export interface SubmitRequest {
  readonly op: 'submit';
  readonly functionName: string;
  /** Generated when absent. */
  readonly taskId?: string;
  readonly payload?: unknown;
}

export interface TaskKeyRequest {
  readonly op: 'get' | 'stop' | 'retry';
  readonly functionName: string;
  readonly taskId: string;
}

export interface ListRequest {
  readonly op: 'list';
  readonly functionName: string;
  /** One or several statuses; all when absent. */
  readonly status?: readonly TaskStatus[];
  /** startedTime window, epoch ms, inclusive. */
  readonly since?: number;
  readonly until?: number;
  /** Task id prefix. */
  readonly prefix?: string;
  readonly limit?: number;
  /** By startedTime; default desc (newest first). */
  readonly order?: SortOrder;
  readonly nextToken?: string;
}

export interface LogsRequest {
  readonly op: 'logs';
  readonly functionName: string;
  readonly taskId: string;
  readonly nextToken?: string;
  readonly limit?: number;
  /** Only this attempt (1-based); every attempt in order when absent. */
  readonly attempt?: number;
}

/** Where to run a command inside a task's running container (`asynctask exec`). */
export interface ExecRequest {
  readonly op: 'exec';
  readonly functionName: string;
  readonly taskId: string;
}

/** Name of the container of a container task function's task definition (the one to exec into). */
export const CONTAINER_NAME = 'worker';

export interface ExecResult {
  /** Cluster name or ARN, as `aws ecs execute-command --cluster` takes it. */
  readonly cluster: string;
  readonly taskArn: string;
  readonly container: string;
  /** The running attempt. */
  readonly attempt: number;
}

export interface FunctionsRequest {
  readonly op: 'functions';
}

/** Default `stats` window: the last 24 hours up to now. */
export const STATS_DEFAULT_WINDOW_MS = 24 * 3600 * 1000;
/** Most task durations `stats` reads for its percentiles (newest first); beyond, `durationMs.sampled` is true. */
export const STATS_MAX_DURATION_SAMPLES = 10_000;

/** Counts, success rate and durations of one function's tasks (the console's functions page). */
export interface StatsRequest {
  readonly op: 'stats';
  readonly functionName: string;
  /** startedTime window, epoch ms, inclusive. @default - `until` minus 24 hours */
  readonly since?: number;
  /** @default - now */
  readonly until?: number;
}

export interface TaskStats {
  readonly functionName: string;
  /** The window used (epoch ms, inclusive), defaults applied. */
  readonly since: number;
  readonly until: number;
  /** Tasks whose startedTime is in the window, by current status; every status present (0 when none). */
  readonly counts: Readonly<Record<TaskStatus, number>>;
  /** Sum of `counts`. */
  readonly total: number;
  /** Tasks Running now, whatever their startedTime. */
  readonly runningNow: number;
  /** Tasks in an active status (ACTIVE_STATUSES) now, whatever their startedTime. */
  readonly activeNow: number;
  /** Succeeded / terminal tasks in the window, 0..1; absent when the window holds no terminal task. */
  readonly successRate?: number;
  /**
   * endTime − startedTime of the terminal tasks in the window (nearest-rank percentiles); at most
   * STATS_MAX_DURATION_SAMPLES are read, newest first, and `sampled` says there were more.
   * Absent when no terminal task of the window has an end time.
   */
  readonly durationMs?: { readonly p50: number; readonly p95: number; readonly samples: number; readonly sampled: boolean };
}

export type TaskApiRequest = SubmitRequest | TaskKeyRequest | ListRequest | LogsRequest | ExecRequest | FunctionsRequest | StatsRequest;
export type TaskApiOperation = TaskApiRequest['op'];
export const OPERATIONS: readonly TaskApiOperation[] = ['submit', 'get', 'list', 'stop', 'retry', 'logs', 'exec', 'functions', 'stats'];

export interface ListResult {
  readonly tasks: readonly TaskRecord[];
  readonly nextToken?: string;
}

export interface LogEvent {
  readonly timestamp: number;
  readonly message: string;
  /** The attempt (1-based) that wrote the line; TaskApi always sets it. */
  readonly attempt?: number;
}

export interface LogsResult {
  readonly events: readonly LogEvent[];
  /** Pass back to continue; absent when there is nothing more right now. */
  readonly nextToken?: string;
  /** Status of the task when the logs were read, so `--follow` knows when to stop. */
  readonly status: TaskStatus;
  /** The attempt this page's events come from (absent before the first attempt). */
  readonly attempt?: number;
  /** Attempts so far (of the task's current execution). */
  readonly attempts?: number;
}

export interface TaskFunctionSummary {
  readonly name: string;
  readonly kind: TaskFunctionKind;
  readonly maxRetryAttempts: number;
  readonly maxEventAgeSeconds: number;
  readonly timeoutSeconds: number;
  readonly maxConcurrency?: number;
  /** ARN of the success destination. */
  readonly onSuccess?: string;
  /** ARN of the failure destination. */
  readonly onFailure?: string;
  readonly stateMachineArn: string;
  readonly description?: string;
  /** Lambda function ARN or ECS task definition ARN: the `functionArn` of the function's destination records. */
  readonly runnerArn: string;
  /** The success destination: type, ARN and, for a queue, its URL. */
  readonly onSuccessDestination?: DestinationTarget;
  /** The failure destination: type, ARN and, for a queue (a dead-letter queue), its URL. */
  readonly onFailureDestination?: DestinationTarget;
  /** Where the runner logs. */
  readonly logGroupName?: string;
  /** The Kafka and SQS triggers feeding the function. */
  readonly triggers?: readonly TriggerSummary[];
}

export interface OperationResults {
  submit: TaskRecord;
  get: TaskRecord;
  stop: TaskRecord;
  retry: TaskRecord;
  list: ListResult;
  logs: LogsResult;
  exec: ExecResult;
  functions: readonly TaskFunctionSummary[];
  stats: TaskStats;
}

export type TaskApiResponse<T = unknown> = { readonly ok: true; readonly result: T } | { readonly ok: false; readonly error: WireError };

/** Parses `Running,Failed` (or an array) into statuses, naming an unknown one and the allowed names. */
export function parseStatuses(value: string | readonly string[]): TaskStatus[] {
  const names = (typeof value === 'string' ? value.split(',') : [...value]).map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) {
    throw new InvalidArgumentError(`status is empty; allowed: ${ALL_STATUSES.join(', ')}`);
  }
  for (const name of names) {
    if (!isTaskStatus(name)) {
      throw new InvalidArgumentError(`unknown status '${name}'; allowed: ${ALL_STATUSES.join(', ')}`, {
        details: { status: name, allowed: ALL_STATUSES },
      });
    }
  }
  return [...new Set(names)] as TaskStatus[];
}

/** Validates every list option (shared by TaskApi and the CLI, which checks before calling). */
export function validateListRequest(request: Omit<ListRequest, 'op'>): void {
  const { limit, order, since, until, prefix, status } = request;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < LIST_LIMIT.min || limit > LIST_LIMIT.max)) {
    throw new InvalidArgumentError(`limit must be an integer between ${LIST_LIMIT.min} and ${LIST_LIMIT.max} inclusive (given ${limit})`);
  }
  if (order !== undefined && order !== 'asc' && order !== 'desc') {
    throw new InvalidArgumentError(`order must be 'asc' or 'desc' (given '${order}')`);
  }
  validateTimeWindow(since, until);
  if (prefix !== undefined && prefix !== '') {
    // A prefix must itself be the start of a valid id.
    if (!/^[A-Za-z_][A-Za-z0-9_-]{0,127}$/.test(prefix)) {
      throw new InvalidArgumentError(
        `prefix '${prefix}' can match no task id; it must be the start of a valid task id (first a letter or underscore, then letters, digits, '_' or '-')`,
      );
    }
  }
  if (status !== undefined) parseStatuses(status);
}

/** since/until: times in epoch milliseconds, since not after until (list and stats). */
function validateTimeWindow(since: number | undefined, until: number | undefined): void {
  for (const [name, value] of [
    ['since', since],
    ['until', until],
  ] as const) {
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < 0)) {
      throw new InvalidArgumentError(
        `${name} must be a time in epoch milliseconds (given ${typeof value === 'string' ? `'${value}'` : String(value)})`,
      );
    }
  }
  if (since !== undefined && until !== undefined && since > until) {
    throw new InvalidArgumentError(`since (${new Date(since).toISOString()}) is after until (${new Date(until).toISOString()})`);
  }
}

/**
 * Validates a `stats` request and applies the window's defaults (until: now, or `since` when that
 * is later; since: 24 hours before until, not before the epoch). Shared by TaskApi and the SDK,
 * which checks before calling.
 */
export function statsWindow(request: Pick<StatsRequest, 'since' | 'until'>, now: number = Date.now()): { since: number; until: number } {
  validateTimeWindow(request.since, request.until);
  const until = request.until ?? Math.max(now, request.since ?? 0);
  const since = request.since ?? Math.max(0, until - STATS_DEFAULT_WINDOW_MS);
  return { since, until };
}
