/**
 * What the service knows about each task function at run time. The constructs render this as
 * JSON into the ASYNCTASK_FUNCTIONS environment variable of TaskApi, finalizer and reconciler;
 * those handlers and the local runtime read it back with `parseRegistry`.
 */
import type { DestinationTarget } from './destination';

export type TaskFunctionKind = 'lambda' | 'container';

export interface TaskFunctionDescriptor {
  readonly name: string;
  readonly kind: TaskFunctionKind;
  readonly stateMachineArn: string;
  /** Lambda function ARN, or ECS task definition ARN: the destination record's `functionArn`. */
  readonly runnerArn: string;
  readonly maxRetryAttempts: number;
  readonly maxEventAgeSeconds: number;
  readonly timeoutSeconds: number;
  readonly maxConcurrency?: number;
  readonly onSuccess?: DestinationTarget;
  readonly onFailure?: DestinationTarget;
  /** Where the runner logs: the Lambda function's log group or the container's. */
  readonly logGroupName?: string;
  /** Containers: the awslogs stream prefix (`<prefix>/<container>/<ecs task id>`). */
  readonly logStreamPrefix?: string;
  readonly description?: string;
}

/** Environment variables of the service's own Lambda functions. */
export const SERVICE_ENV = {
  table: 'ASYNCTASK_TABLE',
  functions: 'ASYNCTASK_FUNCTIONS',
  retentionSeconds: 'ASYNCTASK_RETENTION_SECONDS',
  resultsBucket: 'ASYNCTASK_RESULTS_BUCKET',
} as const;

export type Registry = Readonly<Record<string, TaskFunctionDescriptor>>;

export function parseRegistry(json: string | undefined): Registry {
  if (!json) return {};
  const list = JSON.parse(json) as TaskFunctionDescriptor[];
  return Object.fromEntries(list.map((d) => [d.name, d]));
}
