/**
 * The contract between TaskApi (which starts executions), the state machine definitions, the
 * container runtime helper and the finalizer: execution input, names, ARNs, error names and the
 * environment a container attempt gets.
 */

import type { TaskSource } from './trigger';

/** Execution input. `task` is fixed for the execution; `attempt` moves with retries. */
export interface ExecutionInput {
  readonly task: {
    readonly functionName: string;
    readonly taskId: string;
    readonly requestId: string;
    readonly payload: unknown;
    /** ISO-8601: an attempt not started by then ends the task Expired. */
    readonly deadline: string;
    readonly startedAt: string;
    /**
     * The task's lineage (a trigger's task), null for a task submitted through TaskApi: always
     * present, so the success record's `$.task.source` path exists in every execution.
     */
    readonly source: TaskSource | null;
  };
  readonly attempt: {
    /** 1-based attempt number in this execution. */
    readonly n: number;
    /** Seconds waited before this attempt. */
    readonly delay: number;
  };
}

/** Errors the state machines fail with; the finalizer maps them to a terminal status. */
export const ExecutionError = {
  /** A status write found the task not in a status this execution may move it from. */
  NotRunnable: 'TaskNotRunnable',
  /** Waited for a concurrency slot past the task's deadline. */
  Expired: 'TaskExpired',
  /** The runner cannot be started (function gone, task definition invalid). */
  Invalid: 'TaskInvalid',
  /** Every attempt failed; the cause is the last attempt's. */
  RetriesExhausted: 'TaskRetriesExhausted',
  /**
   * An attempt failed in a way no retry can help (bad input): a Lambda error named in
   * PERMANENT_ERROR_NAMES, or a container exit code `CONTAINER_EXIT_CODE.invalidInput`. The
   * remaining retries are skipped; the cause is that attempt's.
   */
  PermanentFailure: 'TaskPermanentFailure',
} as const;

/**
 * Error names (`error.name`, which Lambda reports as `errorType` and Step Functions matches on)
 * with which a Lambda task function says its input is wrong: the task fails at once, without
 * its retries. Any other error is retried up to `maxRetryAttempts`.
 */
export const PERMANENT_ERROR_NAMES = ['InvalidInput', 'PayloadError'] as const;

/** Execution name = requestId (unique per submit/retry; a repeated StartExecution is idempotent). */
export function executionName(requestId: string): string {
  return requestId;
}

export function executionArn(stateMachineArn: string, name: string): string {
  const parts = stateMachineArn.split(':');
  if (parts.length < 7 || parts[5] !== 'stateMachine') {
    throw new Error(`not a state machine ARN: '${stateMachineArn}'`);
  }
  return [...parts.slice(0, 5), 'execution', parts[6], name].join(':');
}

/** Environment a container attempt gets (set by the state machine's ECS overrides). */
export const CONTAINER_ENV = {
  taskId: 'TASK_ID',
  functionName: 'TASK_FUNCTION',
  attempt: 'ATTEMPT',
  requestId: 'TASK_REQUEST_ID',
  executionArn: 'TASK_EXECUTION_ARN',
  deadline: 'TASK_DEADLINE',
  table: 'TASK_TABLE',
  resultBucket: 'TASK_RESULT_BUCKET',
  resultKey: 'TASK_RESULT_KEY',
} as const;

/**
 * Environment the runtime helper reads to record the attempt's CloudWatch log stream: the
 * construct sets the awslogs prefix and container name, the local runtime names the stream.
 */
export const LOG_ENV = {
  streamPrefix: 'TASK_LOG_STREAM_PREFIX',
  containerName: 'TASK_CONTAINER_NAME',
  stream: 'TASK_LOG_STREAM',
} as const;

/**
 * Environment the local runtime (`asynctask dev`) gives a container process: the ARN of the
 * emulated ECS task, which the helper records as the runner id where there is no ECS metadata
 * endpoint, and by which the local runtime finds its processes again after a crash.
 */
export const LOCAL_ENV = {
  taskArn: 'ASYNCTASK_LOCAL_TASK_ARN',
} as const;

/**
 * Exit codes of a container attempt run by the runtime helper. ECS reports them as the
 * container's exit code; only 0 lets the state machine read the result.
 */
export const CONTAINER_EXIT_CODE = {
  succeeded: 0,
  /** The work raised, or the result could not be written: retried while retries remain. */
  failed: 1,
  /**
   * The work raised the helper's PermanentError (bad payload, missing or unreadable input): no
   * retry can help, so the state machine fails the task without using its retries.
   */
  invalidInput: 2,
  /** The task may not be moved to Running by this attempt: the work was not run. */
  notRunnable: 3,
  /** SIGTERM (stop, timeout, Spot interruption): 128 + 15, the shell's convention. */
  terminated: 143,
} as const;

/**
 * S3 key where a container attempt writes its result (JSON) on success; the state machine
 * reads it back for the record and the destination. The ASL builds the same string with
 * States.Format — keep RESULT_KEY_FORMAT and resultKey in step.
 */
export const RESULT_KEY_FORMAT = 'results/{}/{}/{}/{}.json';
export function resultKey(functionName: string, taskId: string, requestId: string, attempt: number): string {
  return `results/${functionName}/${taskId}/${requestId}/${attempt}.json`;
}
