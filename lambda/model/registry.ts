/**
 * What the service knows about each task function at run time, and where it is kept: one SSM
 * String parameter per task function under the service's registry path
 * (`/asynctask/<service>/functions/<function>`), its value the JSON descriptor. The stack that
 * defines a task function writes its parameter, so a service takes task functions from any
 * number of stacks without Lambda's 4 KB environment limit; the service's Lambdas read the path
 * (lambda/lib/registry.ts) and the local runtime serves the same parameters from the templates.
 */
import type { DestinationTarget } from './destination';
import type { TriggerSummary } from './trigger';

export type TaskFunctionKind = 'lambda' | 'container';

/** What a runner is sized at, for the cost estimate (lambda/model/cost.ts). */
export interface TaskComputeDescriptor {
  /** Lambda memory, or the Fargate task definition's memory, in MiB. */
  readonly memoryMiB?: number;
  /** Fargate cpu units (1024 = 1 vCPU). */
  readonly cpu?: number;
  readonly architecture?: 'x86_64' | 'arm64';
  /** Fargate Spot capacity. */
  readonly spot?: boolean;
}

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
  /** The Kafka and SQS triggers feeding the function (each trigger construct adds itself). */
  readonly triggers?: readonly TriggerSummary[];
  /** The runner's size, when known at synth (an imported Lambda function's is not). */
  readonly compute?: TaskComputeDescriptor;
}

/** Environment variables of the service's own Lambda functions. */
export const SERVICE_ENV = {
  table: 'ASYNCTASK_TABLE',
  /** SSM path of the registry, ending in `/`: `registryPath(serviceName)`. */
  registryPath: 'ASYNCTASK_REGISTRY_PATH',
  retentionSeconds: 'ASYNCTASK_RETENTION_SECONDS',
  resultsBucket: 'ASYNCTASK_RESULTS_BUCKET',
} as const;

/** Root of every service's registry in SSM Parameter Store. */
export const REGISTRY_ROOT = '/asynctask';

/** SSM path holding the descriptors of one service's task functions (ends in `/`). */
export function registryPath(serviceName: string): string {
  return `${REGISTRY_ROOT}/${serviceName}/functions/`;
}

/** SSM parameter name of one task function's descriptor. */
export function registryParameterName(serviceName: string, functionName: string): string {
  return `${registryPath(serviceName)}${functionName}`;
}

/**
 * Service names: letters, digits and `_`, 1–40 characters. No `-`: it ends the service name in
 * the names below, so the grant on `<serviceName>-*` never covers another service's machines.
 */
export const SERVICE_NAME_PATTERN = /^[A-Za-z0-9_]{1,40}$/;

/** Longest state machine name Step Functions accepts. */
export const STATE_MACHINE_NAME_MAX_LENGTH = 80;

/** What every state machine name of a service starts with (the service's grants and finalizer rule match it). */
export function stateMachineNamePrefix(serviceName: string): string {
  return `${serviceName}-`;
}

/** Physical name of a task function's state machine: `<serviceName>-<functionName>`. */
export function taskStateMachineName(serviceName: string, functionName: string): string {
  return `${stateMachineNamePrefix(serviceName)}${functionName}`;
}

/** Log groups of a service's container runners live under this prefix (TaskApi `logs` may read them). */
export function serviceLogGroupPrefix(serviceName: string): string {
  return `${REGISTRY_ROOT}/${serviceName}/`;
}

/** Log group of a container task function: `/asynctask/<serviceName>/<functionName>`. */
export function containerLogGroupName(serviceName: string, functionName: string): string {
  return `${serviceLogGroupPrefix(serviceName)}${functionName}`;
}

/**
 * Parses one registry parameter's value, naming the parameter when it is not a descriptor, so a
 * damaged entry is reported rather than read as a missing function.
 */
export function parseDescriptor(text: string | undefined, parameterName: string): TaskFunctionDescriptor {
  let value: unknown;
  try {
    value = JSON.parse(text ?? '');
  } catch (error) {
    throw new Error(`registry parameter '${parameterName}' is not JSON (${(error as Error).message})`);
  }
  const d = value as Partial<TaskFunctionDescriptor> | null;
  const missing = (['name', 'kind', 'stateMachineArn', 'runnerArn'] as const).filter(
    (field) => typeof d?.[field] !== 'string' || d[field] === '',
  );
  if (d === null || typeof d !== 'object' || missing.length > 0) {
    throw new Error(`registry parameter '${parameterName}' is not a task function descriptor (missing ${missing.join(', ')})`);
  }
  if (d.kind !== 'lambda' && d.kind !== 'container') {
    throw new Error(`registry parameter '${parameterName}' has kind '${String(d.kind)}'; allowed: lambda, container`);
  }
  return d as TaskFunctionDescriptor;
}
