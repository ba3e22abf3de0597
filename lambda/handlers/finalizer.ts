/**
 * Finalizer: runs the finalize step for a task whose attempt ended without its own final write.
 * Three ways in:
 * - "Step Functions Execution Status Change" events (FAILED, TIMED_OUT, ABORTED) of the service's
 *   state machines (standard orchestration);
 * - Lambda's `onFailure` destination record of an economy task function's invocation
 *   (`RetriesExhausted` → Failed, `EventAgeExceeded` → Expired);
 * - the economy handler wrapper's hand-off (`asynctaskEnding`: a stop found at the end of an
 *   attempt, a permanent error).
 * It throws on AWS errors so the asynchronous invocation is retried.
 */
import { ExecutionError, type ExecutionInput, isEnvelopedEvent } from '../model';
import { ENDING_KEY, type WrapperEnding } from '../runtime/task-handler';
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

/** Lambda's asynchronous-invocation destination record (what `onFailure` delivers). */
export interface LambdaDestinationEvent {
  readonly requestContext: { readonly requestId?: string; readonly condition: string; readonly approximateInvokeCount?: number };
  readonly requestPayload: unknown;
  readonly responsePayload?: unknown;
}

function isLambdaDestinationEvent(event: unknown): event is LambdaDestinationEvent {
  const e = event as Partial<LambdaDestinationEvent> | undefined;
  return typeof e?.requestContext?.condition === 'string' && 'requestPayload' in (e as object);
}

/** An economy task's ending: from Lambda's destination record or the wrapper's hand-off. */
async function finalizeEconomy(event: unknown): Promise<FinalizeResult | { action: 'ignored' }> {
  let ending: WrapperEnding | undefined;
  if (isLambdaDestinationEvent(event)) {
    if (!isEnvelopedEvent(event.requestPayload)) {
      logger.warn('Lambda destination record of an invocation without the task envelope; ignored', {
        condition: event.requestContext.condition,
      });
      return { action: 'ignored' };
    }
    const envelope = event.requestPayload.asynctask;
    ending = {
      functionName: envelope.functionName,
      taskId: envelope.taskId,
      owner: envelope.owner,
      status: 'FAILED',
      error: event.requestContext.condition === 'EventAgeExceeded' ? ExecutionError.Expired : ExecutionError.RetriesExhausted,
      ...(event.responsePayload !== undefined && event.responsePayload !== null ? { cause: JSON.stringify(event.responsePayload) } : {}),
    };
  } else {
    ending = (event as Record<string, WrapperEnding | undefined>)[ENDING_KEY];
  }
  if (!ending?.functionName || !ending.taskId || !ending.owner) return { action: 'ignored' };
  appendTaskKeys(ending);
  const result = await finalizeTask(
    serviceConfig(),
    { functionName: ending.functionName, taskId: ending.taskId },
    {
      executionArn: ending.owner,
      status: ending.status,
      ...(ending.error !== undefined ? { error: ending.error } : {}),
      ...(ending.cause !== undefined ? { cause: ending.cause } : {}),
    },
  );
  logger.info(`finalize (economy): ${result.action}`, { owner: ending.owner, status: result.item?.status });
  return result;
}

export async function handler(
  event: ExecutionStatusChangeEvent | LambdaDestinationEvent | { [ENDING_KEY]: WrapperEnding },
  context?: LambdaContext,
): Promise<FinalizeResult | { action: 'ignored' }> {
  startRequest(context);
  if (isLambdaDestinationEvent(event) || (event as Record<string, unknown>)?.[ENDING_KEY] !== undefined) return finalizeEconomy(event);
  const detail = (event as ExecutionStatusChangeEvent)?.detail;
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
