/**
 * Finalizer: reacts to "Step Functions Execution Status Change" events (FAILED, TIMED_OUT,
 * ABORTED) of the service's state machines and runs the finalize step for the execution's task.
 * It throws on AWS errors so EventBridge's asynchronous invocation retries the event.
 */
import type { ExecutionInput } from '../model';
import { serviceConfig } from '../lib/env';
import { describeExecution } from '../lib/executions';
import { finalizeTask, type FinalizeResult } from '../lib/finalize';
import { appendTaskKeys, type LambdaContext, logger, startRequest } from '../lib/logger';

/** The part of the EventBridge event the finalizer reads. */
export interface ExecutionStatusChangeEvent {
  readonly 'detail-type'?: string;
  readonly source?: string;
  readonly detail: {
    readonly executionArn: string;
    readonly stateMachineArn?: string;
    readonly name?: string;
    readonly status: string;
    /** JSON text; absent or cut when over EventBridge's size (inputDetails.included = false). */
    readonly input?: string | null;
    readonly inputDetails?: { readonly included?: boolean } | null;
    readonly error?: string | null;
    readonly cause?: string | null;
  };
}

const HANDLED = new Set(['FAILED', 'TIMED_OUT', 'ABORTED']);

export async function handler(event: ExecutionStatusChangeEvent, context?: LambdaContext): Promise<FinalizeResult | { action: 'ignored' }> {
  startRequest(context);
  const detail = event?.detail;
  if (!detail?.executionArn || !HANDLED.has(detail.status)) {
    logger.info('event ignored', { executionArn: detail?.executionArn, executionStatus: detail?.status });
    return { action: 'ignored' };
  }
  let input: ExecutionInput | undefined;
  if (typeof detail.input === 'string' && detail.inputDetails?.included !== false) {
    try {
      input = JSON.parse(detail.input) as ExecutionInput;
    } catch {
      input = undefined;
    }
  }
  let error = detail.error ?? undefined;
  let cause = detail.cause ?? undefined;
  if (!input?.task?.taskId || (detail.status !== 'ABORTED' && error === undefined)) {
    const described = await describeExecution(detail.executionArn);
    input = described.input ?? input;
    error ??= described.error;
    cause ??= described.cause;
  }
  if (!input?.task?.functionName || !input.task.taskId) {
    logger.warn('execution input names no task; ignored', { executionArn: detail.executionArn });
    return { action: 'ignored' };
  }
  appendTaskKeys(input.task);
  const result = await finalizeTask(
    serviceConfig(),
    { functionName: input.task.functionName, taskId: input.task.taskId },
    {
      executionArn: detail.executionArn,
      status: detail.status,
      ...(error !== undefined ? { error } : {}),
      ...(cause !== undefined ? { cause } : {}),
    },
  );
  logger.info(`finalize: ${result.action}`, {
    executionArn: detail.executionArn,
    status: result.item?.status,
    destinationStatus: result.item?.destinationStatus,
    slotReleased: result.slotReleased,
  });
  return result;
}
