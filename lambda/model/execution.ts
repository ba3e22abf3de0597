/**
 * The contract between TaskApi (which starts executions), the state machine definitions, the
 * container runtime helper and the finalizer: execution input, names, ARNs, error names and the
 * environment a container attempt gets.
 */

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
} as const;

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
 * S3 key where a container attempt writes its result (JSON) on success; the state machine
 * reads it back for the record and the destination. The ASL builds the same string with
 * States.Format — keep RESULT_KEY_FORMAT and resultKey in step.
 */
export const RESULT_KEY_FORMAT = 'results/{}/{}/{}/{}.json';
export function resultKey(functionName: string, taskId: string, requestId: string, attempt: number): string {
  return `results/${functionName}/${taskId}/${requestId}/${attempt}.json`;
}
