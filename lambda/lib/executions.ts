/** Step Functions calls shared by TaskApi and the reconciler: start a task's execution, read how one ended. */
import { DescribeExecutionCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { type ExecutionInput, executionName, type TaskFunctionDescriptor, type TaskItem } from '../model';
import { aws } from './env';
import type { ExecutionEnd } from './finalize';

export function executionInputOf(item: TaskItem): ExecutionInput {
  let payload: unknown;
  try {
    payload = JSON.parse(item.taskPayload);
  } catch {
    payload = item.taskPayload;
  }
  return {
    task: {
      functionName: item.functionName,
      taskId: item.taskId,
      requestId: item.requestId,
      payload,
      deadline: item.deadline,
      startedAt: item.startedAt,
      source: item.source ?? null,
    },
    attempt: { n: 1, delay: 0 },
  };
}

/** StartExecution named after the request id: repeating it with the same input is idempotent. */
export async function startExecution(descriptor: TaskFunctionDescriptor, item: TaskItem): Promise<void> {
  await aws.sfn().send(
    new StartExecutionCommand({
      stateMachineArn: descriptor.stateMachineArn,
      name: executionName(item.requestId),
      input: JSON.stringify(executionInputOf(item)),
    }),
  );
}

export function isExecutionDoesNotExist(error: unknown): boolean {
  return (error as { name?: string } | undefined)?.name === 'ExecutionDoesNotExist';
}

export interface DescribedExecution {
  readonly status?: string;
  readonly input?: ExecutionInput;
  readonly error?: string;
  readonly cause?: string;
}

/** DescribeExecution with the input parsed (when it is the service's execution input). */
export async function describeExecution(executionArn: string): Promise<DescribedExecution> {
  const execution = await aws.sfn().send(new DescribeExecutionCommand({ executionArn }));
  let input: ExecutionInput | undefined;
  try {
    input = execution.input ? (JSON.parse(execution.input) as ExecutionInput) : undefined;
  } catch {
    input = undefined;
  }
  return {
    ...(execution.status ? { status: execution.status } : {}),
    ...(input ? { input } : {}),
    ...(execution.error ? { error: execution.error } : {}),
    ...(execution.cause ? { cause: execution.cause } : {}),
  };
}

/** How the execution ended; undefined while it still runs. A missing execution ends `MISSING`. */
export async function describeEnd(executionArn: string): Promise<ExecutionEnd | undefined> {
  try {
    const execution = await describeExecution(executionArn);
    if (execution.status === 'RUNNING' || execution.status === 'PENDING_REDRIVE') return undefined;
    return {
      executionArn,
      status: execution.status ?? 'FAILED',
      ...(execution.error ? { error: execution.error } : {}),
      ...(execution.cause ? { cause: execution.cause } : {}),
    };
  } catch (error) {
    if (isExecutionDoesNotExist(error)) return { executionArn, status: 'MISSING' };
    throw error;
  }
}
