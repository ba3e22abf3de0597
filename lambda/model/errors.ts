/**
 * One error hierarchy for TaskApi, SDK and CLI. Each subclass has a fixed `name` (bundlers
 * rename classes; Step Functions and the wire format match on names), an HTTP-like
 * `statusCode` and the CLI exit code the contract assigns to it.
 */
import type { TaskRecord } from './record';

export interface AsyncTaskErrorOptions {
  readonly cause?: unknown;
  /** Extra machine-readable fields carried on the wire (for example the existing task). */
  readonly details?: Record<string, unknown>;
}

export class AsyncTaskError extends Error {
  public override name: string = 'AsyncTaskError';
  /** HTTP-like status: 400 bad input, 404 not found, 409 conflict, 500 service. */
  public readonly statusCode: number = 500;
  /** Exit code of the `asynctask` CLI for this error. */
  public readonly exitCode: number = 1;
  public readonly details?: Record<string, unknown>;

  public constructor(message: string, options: AsyncTaskErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.details = options.details;
  }

  public toJSON(): WireError {
    return { name: this.name, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

/** Bad input of any kind: exit code 2. */
export class ValidationError extends AsyncTaskError {
  public override name = 'ValidationError';
  public override readonly statusCode = 400;
  public override readonly exitCode = 2;
}

export class InvalidTaskIdError extends ValidationError {
  public override name = 'InvalidTaskId';
}

export class InvalidPayloadError extends ValidationError {
  public override name = 'InvalidPayload';
}

export class InvalidArgumentError extends ValidationError {
  public override name = 'InvalidArgument';
}

export class TaskFunctionNotFoundError extends AsyncTaskError {
  public override name = 'TaskFunctionNotFound';
  public override readonly statusCode = 404;
  public override readonly exitCode = 3;
}

export class TaskNotFoundError extends AsyncTaskError {
  public override name = 'TaskNotFound';
  public override readonly statusCode = 404;
  public override readonly exitCode = 3;
}

/** A live task with the same id exists; `existingTask` is its record (FC answers 409). */
export class TaskAlreadyExistsError extends AsyncTaskError {
  public override name = 'TaskAlreadyExists';
  public override readonly statusCode = 409;
  public override readonly exitCode = 4;
  public readonly existingTask: TaskRecord;

  public constructor(message: string, existingTask: TaskRecord, options: AsyncTaskErrorOptions = {}) {
    super(message, { ...options, details: { ...options.details, existingTask } });
    this.existingTask = existingTask;
  }
}

/** The task is not in a status that allows the operation (stop a finished task, retry a running one). */
export class InvalidTaskStateError extends AsyncTaskError {
  public override name = 'InvalidTaskState';
  public override readonly statusCode = 409;
  public override readonly exitCode = 1;
}

/** A concurrent writer changed the task first; the caller may read it again. */
export class ConcurrentModificationError extends AsyncTaskError {
  public override name = 'ConcurrentModification';
  public override readonly statusCode = 409;
}

/**
 * IAM refused the call (API Gateway's 403 on `execute-api:Invoke`): the caller may not take this
 * action on this function. Exit code 6.
 */
export class AccessDeniedError extends AsyncTaskError {
  public override name = 'AccessDenied';
  public override readonly statusCode = 403;
  public override readonly exitCode = 6;
}

/** API Gateway refused the call over the stage's (or the function's) throttling limit; nothing was accepted. Retry later. */
export class ThrottledError extends AsyncTaskError {
  public override name = 'Throttled';
  public override readonly statusCode = 429;
}

/** The service (or an AWS API behind it) failed; nothing was accepted. */
export class ServiceError extends AsyncTaskError {
  public override name = 'ServiceError';
}

/** A waited-for task ended in a status other than Succeeded (CLI `--wait`: exit 5). */
export class TaskDidNotSucceedError extends AsyncTaskError {
  public override name = 'TaskDidNotSucceed';
  public override readonly exitCode = 5;
  public readonly task: TaskRecord;

  public constructor(task: TaskRecord) {
    super(
      `task '${task.taskId}' of function '${task.functionName}' ended ${task.status}` +
        (task.taskErrorMessage ? `: ${task.taskErrorMessage}` : ''),
      { details: { task } },
    );
    this.task = task;
  }
}

/** The error as it travels in a TaskApi response. */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

type ErrorFactory = (message: string, details?: Record<string, unknown>) => AsyncTaskError;

const FACTORIES: Record<string, ErrorFactory> = {
  ValidationError: (m, d) => new ValidationError(m, { details: d }),
  InvalidTaskId: (m, d) => new InvalidTaskIdError(m, { details: d }),
  InvalidPayload: (m, d) => new InvalidPayloadError(m, { details: d }),
  InvalidArgument: (m, d) => new InvalidArgumentError(m, { details: d }),
  TaskFunctionNotFound: (m, d) => new TaskFunctionNotFoundError(m, { details: d }),
  TaskNotFound: (m, d) => new TaskNotFoundError(m, { details: d }),
  TaskAlreadyExists: (m, d) => new TaskAlreadyExistsError(m, (d?.existingTask ?? {}) as TaskRecord, { details: d }),
  InvalidTaskState: (m, d) => new InvalidTaskStateError(m, { details: d }),
  ConcurrentModification: (m, d) => new ConcurrentModificationError(m, { details: d }),
  AccessDenied: (m, d) => new AccessDeniedError(m, { details: d }),
  Throttled: (m, d) => new ThrottledError(m, { details: d }),
  ServiceError: (m, d) => new ServiceError(m, { details: d }),
};

/** Rebuilds the typed error from its wire form; unknown names become a ServiceError keeping the name. */
export function errorFromWire(wire: WireError): AsyncTaskError {
  const factory = FACTORIES[wire.name];
  if (factory) return factory(wire.message, wire.details);
  const error = new ServiceError(`${wire.name}: ${wire.message}`, { details: wire.details });
  return error;
}

/** Wraps anything thrown into the hierarchy, keeping the original as `cause`. */
export function toAsyncTaskError(error: unknown): AsyncTaskError {
  if (error instanceof AsyncTaskError) return error;
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new ServiceError(message, { cause: error });
}
